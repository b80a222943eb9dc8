package commands

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestDemoRunsTheWholeFlow(t *testing.T) {
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := Run(ctx, []string{"fastmcp-auth", "demo", "--progress-interval", "20ms", "--query", "e\u0301🇫🇷ab"}, &out, &errb)
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	text := out.String()
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
	if strings.Contains(text, "eyJ") || strings.Contains(errb.String(), "eyJ") {
		t.Error("a token (eyJ...) was printed")
	}
}

func TestDemoInterrupted(t *testing.T) {
	var out, errb bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(300 * time.Millisecond); cancel() }()
	code := Run(ctx, []string{"fastmcp-auth", "demo", "--progress-interval", "1s"}, &out, &errb)
	if code != ExitInterrupted {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitInterrupted, out.String(), errb.String())
	}
	if !strings.HasPrefix(errb.String(), "error: ") {
		t.Errorf("stderr %q does not start with error:", errb.String())
	}
}
