package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// usageError is a command line Parley cannot run: main prints its message
// (or, without one, the general usage) and exits with status 2.
type usageError struct{ msg string }

func (u usageError) Error() string {
	if u.msg == "" {
		return "usage"
	}
	return u.msg
}

// errHelp means the help asked for (-h) was printed: exit 0.
var errHelp = errors.New("help printed")

// command is one word of the command line and what runs it with the words
// after it.
type command struct {
	name string
	run  func(args []string) error
}

// dispatch runs the command args[0] names among cmds. path is the words
// before it ("" at the top, "case" for `parley case ...`), for messages.
func dispatch(path string, args []string, cmds []command) error {
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.name
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Printf("usage: parley %s %s [flags]; \"parley %s COMMAND -h\" for the flags of one\n", path, strings.Join(names, "|"), path)
			return errHelp
		}
		which := fmt.Sprintf("which command? one of %s", strings.Join(names, ", "))
		if path != "" {
			which = path + ": " + which
		}
		return usageError{which}
	}
	for _, c := range cmds {
		if c.name == args[0] {
			return c.run(args[1:])
		}
	}
	full := strings.TrimSpace(path + " " + args[0])
	if near := nearest(args[0], names); near != "" {
		return usageError{fmt.Sprintf("unknown command %q; did you mean %q?", full, strings.TrimSpace(path+" "+near))}
	}
	return usageError{fmt.Sprintf("unknown command %q; the commands are %s (parley help)", full, strings.Join(names, ", "))}
}

// parseArgs is the one flag parser of every command: flags may come before,
// between or after the positional arguments, of which it wants exactly one
// per name in positional (the names show in messages: "ID", "FILE"). A
// lone "--" ends the flags. -h prints the command's usage and returns
// errHelp.
func parseArgs(fs *flag.FlagSet, args []string, positional ...string) ([]string, error) {
	synopsis := strings.TrimSpace(fs.Name() + " " + strings.Join(positional, " "))
	fs.SetOutput(io.Discard) // errors are ours to word, on one line
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Printf("usage: parley %s [flags]\n\nflags:\n", synopsis)
				fs.SetOutput(os.Stdout)
				fs.PrintDefaults()
				return nil, errHelp
			}
			return nil, usageError{fmt.Sprintf("%s: %v (usage: parley %s [flags])", fs.Name(), err, synopsis)}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			pos = append(pos, rest...) // after "--" every word is an argument
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	switch {
	case len(pos) > len(positional):
		return nil, usageError{fmt.Sprintf("%s: unexpected argument %q (usage: parley %s [flags])", fs.Name(), pos[len(positional)], synopsis)}
	case len(pos) < len(positional):
		return nil, usageError{fmt.Sprintf("%s: missing %s (usage: parley %s [flags])", fs.Name(), positional[len(pos)], synopsis)}
	}
	return pos, nil
}

// parseFlags is parseArgs for n arguments named ARG: the helper's former
// signature, kept so commands written against it still build.
func parseFlags(fs *flag.FlagSet, args []string, n int) ([]string, error) {
	names := make([]string, n)
	for i := range names {
		names[i] = "ARG"
	}
	return parseArgs(fs, args, names...)
}

// hoistGlobals moves --config and --data given before the command
// (`parley --config F case list`) after it, where every command parses them.
func hoistGlobals(args []string) []string {
	var globals []string
	for len(args) > 0 {
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
		if !strings.HasPrefix(args[0], "-") || (name != "config" && name != "data") {
			break
		}
		n := 1
		if !hasValue && len(args) > 1 {
			n = 2
		}
		globals, args = append(globals, args[:n]...), args[n:]
	}
	if len(globals) == 0 || len(args) == 0 {
		return append(globals, args...)
	}
	return append(args[:len(args):len(args)], globals...)
}

// nearest returns the name closest to word by edit distance, if it is close
// enough to be a typo (at most 2 edits, and fewer than half the word).
func nearest(word string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(word, n); d < bestD && d <= (len(word)+1)/2 {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Damerau-Levenshtein distance (optimal string
// alignment): insertions, deletions, substitutions and swaps of two
// neighbours each count one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
