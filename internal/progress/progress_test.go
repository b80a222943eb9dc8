package progress

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// update is one notification as the server sent it.
type update struct {
	progress, total float64
	message         string
}

func TestPlainAndJSONLines(t *testing.T) {
	updates := []update{{1, 5, "step 1"}, {2, 0, ""}, {3, 5, "evil\x1b[2Jtext\r"}}
	for name, tt := range map[string]struct {
		asJSON bool
		want   string
	}{
		"plain": {false, "progress 1/5: step 1\nprogress 2\nprogress 3/5: evil[2Jtext\n"},
		// JSON lines are for programs: the server's text as sent (JSON escapes it).
		"json": {true, `{"progress":1,"total":5,"message":"step 1"}` + "\n" + `{"progress":2}` + "\n" +
			`{"progress":3,"total":5,"message":"evil\u001b[2Jtext\r"}` + "\n"},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			r := New(&buf, Plain, tt.asJSON)
			for _, u := range updates {
				r.Update(u.progress, u.total, u.message)
			}
			r.Finish()
			if diff := cmp.Diff(tt.want, buf.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBar(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf, Bar, false)
	r.Update(1, 5, "first")
	r.Update(9, 5, "past the total\x1b[31m") // capped, and the escape is stripped
	r.Finish()
	out := buf.String()
	if !strings.Contains(out, "9/5 past the total[31m") || strings.Contains(out, "\x1b[31m") {
		t.Errorf("bar output %q: want the last description without the escape", out)
	}
	if !strings.HasSuffix(out, "\n") {
		t.Errorf("bar output %q: Finish must end the line", out)
	}
}

// barOfFiveSteps is the bar's output for the updates 1/5 to 5/5 with message, then Finish.
func barOfFiveSteps(message string) string {
	var buf bytes.Buffer
	r := New(&buf, Bar, false)
	for i := 1.0; i <= 5; i++ {
		r.Update(i, 5, message)
	}
	r.Finish()
	return buf.String()
}

func TestBarShowsTheFraction(t *testing.T) {
	if out := barOfFiveSteps(""); !strings.Contains(out, "100%") {
		t.Errorf("bar output %q lacks 100%%", out)
	}
}

// TestSanitize: escape sequences, carriage returns, BEL and the one-byte C1 CSI lose their
// control characters; SanitizeText keeps newlines and tabs, SanitizeTerminal makes one line.
func TestSanitize(t *testing.T) {
	in := "first\x1b[31mRED\x1b]0;pwned\x07\tcol\r\nsecond\u009b2J line\x7f"
	if got, want := SanitizeTerminal(in), "first[31mRED]0;pwnedcolsecond2J line"; got != want {
		t.Errorf("SanitizeTerminal = %q, want %q", got, want)
	}
	if got, want := SanitizeText(in), "first[31mRED]0;pwned\tcol\nsecond2J line"; got != want {
		t.Errorf("SanitizeText = %q, want %q", got, want)
	}
}

// TestBarDrawsOncePerUpdate: each update draws the bar once, its percentage and count both
// new: never the new count beside the previous percentage.
func TestBarDrawsOncePerUpdate(t *testing.T) {
	out := barOfFiveSteps("step")
	// Each drawing starts with a carriage return; the bar's clearing of the line is blank.
	var drawn []string
	for _, d := range strings.Split(out, "\r") {
		if d = strings.TrimSpace(d); d != "" {
			drawn = append(drawn, strings.Fields(d)[0]+" "+strings.TrimSpace(d[strings.LastIndex(d, "|")+1:]))
		}
	}
	want := []string{"20% 1/5 step", "40% 2/5 step", "60% 3/5 step", "80% 4/5 step", "100% 5/5 step"}
	if diff := cmp.Diff(want, drawn); diff != "" {
		t.Errorf("drawings (-want +got):\n%s\nraw %q", diff, out)
	}
}
