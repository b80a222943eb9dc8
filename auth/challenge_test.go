package auth

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseChallenges covers what the single-challenge cases of mcpclient's
// TestParseWWWAuthenticate do not: several challenges, token68, sloppy servers.
func TestParseChallenges(t *testing.T) {
	t.Parallel()
	type p = map[string]string
	tests := []struct {
		name   string
		header string
		want   []Challenge
		bearer p // BearerChallenge's answer
	}{
		{"none", "", nil, nil},
		{"bearer after basic", `Basic realm="files", Bearer error="invalid_token", error_description="token expired"`,
			[]Challenge{{"Basic", p{"realm": "files"}}, {"Bearer", p{"error": "invalid_token", "error_description": "token expired"}}},
			p{"error": "invalid_token", "error_description": "token expired"}},
		{"token68 before bearer", `Negotiate YII+/ab==, bearer scope="execute"`,
			[]Challenge{{"Negotiate", p{}}, {"bearer", p{"scope": "execute"}}}, p{"scope": "execute"}},
		{"token68 without padding", `Basic dXNlcg`, []Challenge{{"Basic", p{}}}, nil},
		{"schemes without params", `Basic, Bearer`, []Challenge{{"Basic", p{}}, {"Bearer", p{}}}, p{}},
		{"unquoted URL value and spaces around =", `Bearer scope = api://x/execute, resource_metadata=https://h/m`,
			[]Challenge{{"Bearer", p{"scope": "api://x/execute", "resource_metadata": "https://h/m"}}},
			p{"scope": "api://x/execute", "resource_metadata": "https://h/m"}},
		{"no bearer", `Basic realm="x"`, []Challenge{{"Basic", p{"realm": "x"}}}, nil},
		{"garbage after a scheme", `Bearer ,,, =`, []Challenge{{"Bearer", p{}}}, p{}},
		{"not a scheme", `="x"`, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, ParseChallenges(tt.header)); diff != "" {
				t.Errorf("ParseChallenges (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.bearer, BearerChallenge(tt.header)); diff != "" {
				t.Errorf("BearerChallenge (-want +got):\n%s", diff)
			}
		})
	}
}
