package commands

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/policy"
)

// Flags of `policy test`.
const (
	flagPolicyClaims = "claims"
	flagPolicyTool   = "tool"
	flagPolicyArgs   = "args"
)

// claimsHint says what --claims takes.
const claimsHint = "give a JSON object of token claims, e.g. from fastmcp-auth whoami --json"

// maxClaimsStdin bounds the claims read by --claims - (a token's claims are a few KiB).
const maxClaimsStdin = 1 << 20

// newPolicyCommand is `fastmcp-auth policy`, whose one subcommand `test` tries a policy on a
// token's claims without a server.
func newPolicyCommand() *cli.Command {
	test := &cli.Command{
		Name:      "test",
		Usage:     "decide one tool call with a policy file: prints allow or deny and the rule that decided",
		UsageText: "fastmcp-auth policy test --policy FILE --claims claims.json --tool NAME [--args JSON]",
		Description: "Exit 0 when allowed, 1 when denied, 2 when an input is wrong. --claims is a JSON file holding the\n" +
			"token's claims (the decoded payload, as `fastmcp-auth whoami --json` or jwt.ms show it).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: flagPolicy, Usage: "policy `FILE` (YAML)", EnvVars: envVar(flagPolicy)},
			&cli.StringFlag{Name: flagPolicyClaims, Usage: "`FILE` with the token's claims as a JSON object (- for stdin)", EnvVars: envVar(flagPolicyClaims)},
			&cli.StringFlag{Name: flagPolicyTool, Usage: "tool `NAME`", EnvVars: envVar(flagPolicyTool)},
			&cli.StringFlag{Name: flagPolicyArgs, Usage: "the call's arguments as a JSON object", EnvVars: envVar(flagPolicyArgs)},
		},
		OnUsageError: onUsageError,
		Action:       runPolicyTest,
	}
	return &cli.Command{
		Name:        "policy",
		Usage:       "work with gateway policy files (serve --policy)",
		Subcommands: []*cli.Command{test},
	}
}

// runPolicyTest is the `policy test` Action.
func runPolicyTest(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageErrorf("policy test takes no arguments, got %q", c.Args().First())
	}
	file := strings.TrimSpace(c.String(flagPolicy))
	claimsFile := strings.TrimSpace(c.String(flagPolicyClaims))
	tool := strings.TrimSpace(c.String(flagPolicyTool))
	switch {
	case file == "":
		return usageErrorf("--%s is required: the policy file to test", flagPolicy)
	case claimsFile == "":
		return usageErrorf("--%s is required: a JSON file with the token's claims", flagPolicyClaims)
	case tool == "":
		return usageErrorf("--%s is required: the tool name to decide", flagPolicyTool)
	}
	p, err := policy.Load(file)
	if err != nil {
		return policyError(file, err)
	}
	var raw []byte
	source := claimsFile
	if claimsFile == "-" {
		source = "- (stdin)"
		raw, err = io.ReadAll(io.LimitReader(c.App.Reader, maxClaimsStdin))
	} else {
		raw, err = os.ReadFile(claimsFile)
	}
	if err != nil {
		return fileFlagError("read", flagPolicyClaims, source, err, "give a JSON file of token claims, e.g. from fastmcp-auth whoami --json")
	}
	// Empty claims are bad input, not a token without claims: the usual cause is
	// `fastmcp-auth whoami --json > claims.json` having failed, and deciding a call on the empty
	// file would report a deny (exit 1) that says nothing about the policy.
	if len(bytes.TrimSpace(raw)) == 0 {
		return usageErrorf("--%s %s is empty: %s", flagPolicyClaims, source, claimsHint)
	}
	claims, err := policy.Claims(raw)
	if err != nil {
		return usageErrorf("--%s %s: %v: %s", flagPolicyClaims, source, err, claimsHint)
	}
	var args map[string]any
	if a := strings.TrimSpace(c.String(flagPolicyArgs)); a != "" {
		if err := json.Unmarshal([]byte(a), &args); err != nil || args == nil {
			return usageErrorf("--%s must be a JSON object such as {\"message\":\"hi\"}", flagPolicyArgs)
		}
	}
	d := p.Decide(policy.Input{Kind: policy.Tool, Name: tool, Claims: claims, Args: args})
	verdict := "deny"
	if d.Allow {
		verdict = "allow"
	}
	line := verdict
	if d.Rule != nil {
		line += " " + d.Rule.String()
	}
	if d.Reason != "" {
		line += ": " + d.Reason
	}
	fmt.Fprintln(c.App.Writer, line)
	if !d.Allow {
		return withCode(ExitFailure, fmt.Errorf("the policy denies %s for these claims", tool))
	}
	return nil
}

// policyError is the usage error of a --policy file that could not be loaded: a file that
// cannot be read names the flag and the path; a document that does not compile already names
// the file and the rule (policy.Load).
func policyError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fileFlagError("read", flagPolicy, path, err, "give the path of a YAML policy file")
	}
	return usageErrorf("%v", err)
}
