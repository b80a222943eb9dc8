package auth

import "testing"

func TestScopeForms(t *testing.T) {
	t.Parallel()
	const uri = "api://11111111-2222-3333-4444-555555555555"
	if got := AppIDURI("abc", ""); got != "api://abc" {
		t.Errorf("AppIDURI default = %q", got)
	}
	if got := AppIDURI("abc", "https://mcp.example.com/"); got != "https://mcp.example.com" {
		t.Errorf("AppIDURI explicit = %q", got)
	}
	if got := FullScope(uri, "execute"); got != uri+"/execute" {
		t.Errorf("FullScope = %q", got)
	}
	if got := FullScope(uri, "api://other/read"); got != "api://other/read" {
		t.Errorf("FullScope kept a full scope as %q", got)
	}
	for _, tt := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"execute", "execute", true},
		{uri + "/execute", "execute", true},
		{"API://11111111-2222-3333-4444-555555555555/read", "read", true},
		{"api://other/execute", "", false},
		{uri + "/", "", false},
		{uri + "/a/b", "", false},
		{"", "", false},
	} {
		got, ok := ShortScope(uri, tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ShortScope(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	for _, bad := range []string{"execute", "api://x?y", "api://x#y", "https://a b", "api://x,y"} {
		if CheckAppIDURI(bad) == nil {
			t.Errorf("CheckAppIDURI(%q) accepted it", bad)
		}
	}
	for _, good := range []string{"api://x", "https://mcp.example.com/mcp", "urn:contoso:api"} {
		if err := CheckAppIDURI(good); err != nil {
			t.Errorf("CheckAppIDURI(%q): %v", good, err)
		}
	}
}
