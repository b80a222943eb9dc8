package commands

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

func TestDemoRunsTheWholeFlow(t *testing.T) {
	code, text, errb := runMain(testenv.Context(t, 60*time.Second), "demo", "--progress-interval", "20ms", "--query", "e\u0301🇫🇷ab")
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, text, errb)
	}
	for _, want := range []string{
		"development authority  https://127.0.0.1:",
		"no token               refused: 401",
		"signed in              dev@dev.localhost",
		"silent sign-in served from token_cache.json (mode -rw-------)",
		"tools/list             random_number_tool, reverse_tool",
		`-> {"reversed_query":"ba🇫🇷e` + "\u0301" + `"}`,
		"done: the whole flow worked",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	// The five progress updates, in order, before the result line.
	steps := regexp.MustCompile(`progress (\d)/5`).FindAllStringSubmatch(text, -1)
	var got []string
	for _, s := range steps {
		got = append(got, s[1])
	}
	if strings.Join(got, ",") != "1,2,3,4,5" {
		t.Errorf("progress steps %v, want 1..5 in order", got)
	}
	if strings.Index(text, "progress 5/5") > strings.Index(text, "tools/call reverse_tool") {
		t.Error("the last progress update came after the result")
	}
	// Nothing of the user's is touched and the temporary directory is gone.
	m := regexp.MustCompile(`removed (\S+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no removal line:\n%s", text)
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("%s still exists (err %v)", m[1], err)
	}
	if strings.Contains(text, "eyJ") || strings.Contains(errb, "eyJ") {
		t.Error("a token (eyJ...) was printed")
	}
}

func TestDemoInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(300 * time.Millisecond); cancel() }()
	code, out, errb := runMain(ctx, "demo", "--progress-interval", "1s")
	if code != ExitInterrupted {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitInterrupted, out, errb)
	}
	if !strings.HasPrefix(errb, "error: ") {
		t.Errorf("stderr %q does not start with error:", errb)
	}
}
