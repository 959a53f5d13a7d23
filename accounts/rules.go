package accounts

import (
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Password rules for new accounts.
const (
	// minPasswordLen is the fewest characters (runes) a password may have.
	minPasswordLen = 12
	// maxPasswordLen bounds a password in bytes (argon2id hashes it all).
	maxPasswordLen = 1024
	// maxEmailLen is RFC 5321's bound on a forward path.
	maxEmailLen = 254
	// maxNameLen matches the display-name column (storage.User.Name).
	maxNameLen = 200
)

// usernameRe allows 3–32 lowercase letters, digits, dots, dashes and
// underscores, starting with a letter or digit. Lowercase only, so two
// accounts can never differ by case alone.
var usernameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{2,31}$`)

// Validate checks a new user's fields (not whether the username is free)
// and returns nil or a FieldErrors listing one message per refused field,
// in the order username, email, name, password.
func Validate(u NewUser) error {
	var errs FieldErrors
	add := func(field, msg string) {
		if msg != "" {
			errs = append(errs, &FieldError{Field: field, Message: msg})
		}
	}
	add(FieldUsername, usernameProblem(u.Username))
	add(FieldEmail, emailProblem(u.Email, u.EmailRequired))
	if utf8.RuneCountInString(u.Name) > maxNameLen {
		add(FieldName, "Use at most "+strconv.Itoa(maxNameLen)+" characters.")
	}
	add(FieldPassword, passwordProblem(u.Password, u.Username))
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// usernameProblem says what is wrong with a username, or "".
func usernameProblem(name string) string {
	if name == "" {
		return "Choose a username."
	}
	if usernameRe.MatchString(name) {
		return ""
	}
	n := utf8.RuneCountInString(name)
	switch {
	case n < 3 || n > 32:
		return "Use 3–32 characters."
	case strings.ToLower(name) != name && usernameRe.MatchString(strings.ToLower(name)):
		return "Use lowercase letters only: try “" + strings.ToLower(name) + "”."
	case strings.IndexAny(name[:1], "._-") == 0:
		return "Start with a letter or a digit."
	}
	return "Use only lowercase letters, digits, dots, dashes and underscores."
}

// emailProblem says what is wrong with an email address, or "". An empty
// address is a problem only when required.
func emailProblem(email string, required bool) string {
	switch {
	case email == "" && required:
		return "Enter your email address."
	case email == "":
		return ""
	case len(email) > maxEmailLen:
		return "That email address is too long."
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || !strings.Contains(a.Address[strings.LastIndexByte(a.Address, '@')+1:], ".") {
		return "Enter an email address like name@example.com."
	}
	return ""
}

// passwordProblem returns why password is not acceptable for username, or "".
// The rules: at least 12 characters, not the username, and not a trivially
// common or patterned password (NIST SP 800-63B §5.1.1.2 asks for a check
// against commonly used values rather than composition rules).
func passwordProblem(password, username string) string {
	n := utf8.RuneCountInString(password)
	switch {
	case password == "":
		return "Choose a password."
	case n < minPasswordLen:
		return "Use at least " + strconv.Itoa(minPasswordLen) + " characters."
	case len(password) > maxPasswordLen:
		return "Use at most " + strconv.Itoa(maxPasswordLen) + " characters."
	}
	lower := strings.ToLower(password)
	if username != "" && (lower == strings.ToLower(username) || strings.Contains(lower, strings.ToLower(username)) && n-utf8.RuneCountInString(username) < 6) {
		return "Don’t use your username as your password."
	}
	if isCommonPassword(lower) {
		return "That password is too common. Try a few unrelated words together."
	}
	return ""
}

// commonWords are the stems of the passwords most often found in breach
// corpora; a password that is one of them padded with digits or symbols is
// trivially guessed.
var commonWords = []string{
	"password", "passw0rd", "p@ssw0rd", "p@ssword", "qwerty", "qwertyuiop", "asdfgh", "asdfghjkl", "zxcvbnm",
	"letmein", "welcome", "admin", "administrator", "iloveyou", "changeme", "monkey", "dragon", "master",
	"sunshine", "princess", "football", "baseball", "superman", "batman", "trustno1", "starwars", "shadow",
	"michael", "jennifer", "abc", "abcdef", "secret", "login", "latchkey", "default", "qazwsx", "1qaz2wsx",
	"1q2w3e4r", "1q2w3e4r5t", "1q2w3e4r5t6y", "zaq12wsx", "qwe", "asd", "test", "guest", "hello", "whatever",
	"correcthorsebatterystaple",
}

// isCommonPassword reports whether lower (a lowercased password) is a common
// word repeated or padded with digits and symbols, a keyboard or counting
// run, or made of very few distinct characters.
func isCommonPassword(lower string) bool {
	distinct := map[rune]bool{}
	for _, r := range lower {
		distinct[r] = true
	}
	if len(distinct) <= 3 {
		return true // aaaaaaaaaaaa, abababababab, 121212121212
	}
	if isRun(lower) || isRepeat(lower) {
		return true // 123456789012, abcdefghijkl, 987654321098, 123412341234
	}
	if slices.Contains(commonWords, lower) {
		return true
	}
	core := strings.TrimFunc(lower, func(r rune) bool { return !('a' <= r && r <= 'z') })
	if core == "" {
		return isRun(strings.Map(keepDigit, lower)) // digits and symbols only
	}
	for _, w := range commonWords {
		if core == w || strings.Trim(strings.ReplaceAll(core, w, ""), "0123456789!@#$%^&*()_-+=.?") == "" {
			return true
		}
	}
	return false
}

// isRepeat reports whether s is one short piece (at most a third of s)
// repeated, like 123412341234 or qwerqwerqwer.
func isRepeat(s string) bool {
	for n := 1; n <= len(s)/3; n++ {
		if len(s)%n == 0 && strings.Repeat(s[:n], len(s)/n) == s {
			return true
		}
	}
	return false
}

func keepDigit(r rune) rune {
	if '0' <= r && r <= '9' {
		return r
	}
	return -1
}

// isRun reports whether s steps by +1 or -1 between characters (wrapping
// 9→0 for digits), like 1234567890123 or zyxwvutsrqpo.
func isRun(s string) bool {
	if len(s) < 4 {
		return false
	}
	for _, step := range []int{1, -1} {
		ok := true
		for i := 1; i < len(s) && ok; i++ {
			a, b := int(s[i-1]), int(s[i])
			d := b - a
			wrap := a >= '0' && a <= '9' && b >= '0' && b <= '9' && (d == -9*step)
			ok = d == step || wrap
		}
		if ok {
			return true
		}
	}
	return false
}
