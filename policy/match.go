package policy

// matchAny reports whether name matches one of globs. A rule without globs for a kind matches
// no item of that kind (an empty list is not a wildcard).
func matchAny(globs []string, name string) bool {
	for _, g := range globs {
		if Match(g, name) {
			return true
		}
	}
	return false
}

// Match reports whether name matches glob, where * matches any run of characters (slashes
// included, so "file:///docs/*" covers a whole tree) and ? any one character. Everything else
// matches itself; there are no character classes, so a URI's brackets need no escaping.
func Match(glob, name string) bool {
	// Iterative wildcard matching with backtracking to the last star: linear in practice,
	// never exponential.
	// Runes, not bytes: ? must match one character of a non-ASCII tool name or URI.
	g, n := []rune(glob), []rune(name)
	// star is the glob index of the last *, mark the name index it currently absorbs up to.
	gi, ni, star, mark := 0, 0, -1, 0
	for ni < len(n) {
		switch {
		case gi < len(g) && (g[gi] == '?' || g[gi] == n[ni]):
			gi++
			ni++
		case gi < len(g) && g[gi] == '*':
			star, mark = gi, ni
			gi++
		case star >= 0:
			gi = star + 1
			mark++
			ni = mark
		default:
			return false
		}
	}
	// Trailing stars match the empty rest of the name.
	for gi < len(g) && g[gi] == '*' {
		gi++
	}
	return gi == len(g)
}
