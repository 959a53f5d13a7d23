package accounts

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	const good = "correct-battery-staple-horse"
	type form struct{ Username, Email, Password string }
	tests := []struct {
		name                      string
		form                      form
		username, email, password string // substrings expected in each field's error; "" = no error
	}{
		{name: "valid", form: form{"alice", "alice@example.com", good}},
		{name: "valid with dots and digits", form: form{"a.b-c_9", "a+tag@mail.example.org", good}},
		{name: "all empty", form: form{}, username: "Choose a username", email: "Enter your email", password: "Choose a password"},
		{name: "username too short", form: form{"al", "a@example.com", good}, username: "3–32 characters"},
		{name: "username uppercase", form: form{"Alice", "a@example.com", good}, username: "lowercase"},
		{name: "username starts with dot", form: form{".alice", "a@example.com", good}, username: "Start with a letter"},
		{name: "username with space", form: form{"al ice", "a@example.com", good}, username: "only lowercase letters, digits"},
		{name: "username with unicode", form: form{"álice", "a@example.com", good}, username: "only lowercase letters, digits"},
		{name: "username too long", form: form{strings.Repeat("a", 33), "a@example.com", good}, username: "3–32 characters"},
		{name: "email without at", form: form{"alice", "alice.example.com", good}, email: "like name@example.com"},
		{name: "email with display name", form: form{"alice", "Alice <alice@example.com>", good}, email: "like name@example.com"},
		{name: "email without dot in domain", form: form{"alice", "alice@localhost", good}, email: "like name@example.com"},
		{name: "email too long", form: form{"alice", strings.Repeat("a", 250) + "@example.com", good}, email: "too long"},
		{name: "password short", form: form{"alice", "a@example.com", "short-pass1"}, password: "at least 12"},
		{name: "password eleven runes", form: form{"alice", "a@example.com", "ééééé-ééééé"}, password: "at least 12"},
		{name: "password equals username", form: form{"alice.wonderland", "a@example.com", "Alice.Wonderland"}, password: "username"},
		{name: "password is username plus digits", form: form{"alicewonder", "a@example.com", "alicewonder1"}, password: "username"},
		{name: "password too long", form: form{"alice", "a@example.com", strings.Repeat("x1y2", 257)}, password: "at most"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(NewUser{Username: tc.form.Username, Email: tc.form.Email, Password: tc.form.Password, EmailRequired: true})
			var e FieldErrors
			errors.As(err, &e)
			for _, f := range []struct{ field, want string }{
				{FieldUsername, tc.username}, {FieldEmail, tc.email}, {FieldPassword, tc.password},
			} {
				got := e.Message(f.field)
				if (f.want == "") != (got == "") || !strings.Contains(got, f.want) {
					t.Errorf("%s error = %q, want one containing %q", f.field, got, f.want)
				}
			}
			if want := tc.username != "" || tc.email != "" || tc.password != ""; (err != nil) != want || errors.Is(err, ErrInvalid) != want {
				t.Errorf("Validate = %v, want an error matching ErrInvalid: %v", err, want)
			}
		})
	}
}

// TestValidateOptionalFields: an operator may leave the email out (but a
// given one must be valid), and a display name is bounded.
func TestValidateOptionalFields(t *testing.T) {
	const good = "correct-battery-staple-horse"
	tests := []struct {
		name  string
		u     NewUser
		field string // "" = accepted
	}{
		{"no email when optional", NewUser{Username: "ops", Password: good}, ""},
		{"bad email when optional", NewUser{Username: "ops", Email: "ops@localhost", Password: good}, FieldEmail},
		{"name of 200 runes", NewUser{Username: "ops", Name: strings.Repeat("é", 200), Password: good}, ""},
		{"name of 201 runes", NewUser{Username: "ops", Name: strings.Repeat("é", 201), Password: good}, FieldName},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.u)
			var fe *FieldError
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if !errors.As(err, &fe) || fe.Field != tc.field || len(err.(FieldErrors)) != 1 {
				t.Fatalf("Validate = %v, want one error on %s", err, tc.field)
			}
		})
	}
}

func TestPasswordProblemCommon(t *testing.T) {
	common := []string{
		"password1234", "Password123456", "passwordpassword", "P@ssw0rd2024!", "qwertyuiop123", "QWERTY123456",
		"123456789012", "1234567890123", "987654321098", "abcdefghijkl", "aaaaaaaaaaaa", "abababababab",
		"121212121212", "123412341234", "qwerqwerqwer", "letmein12345", "iloveyou2024", "1q2w3e4r5t6y",
		"welcome123!!", "latchkey2025", "!!!!password", "correcthorsebatterystaple",
	}
	for _, p := range common {
		t.Run(p, func(t *testing.T) {
			if got := passwordProblem(p, "someone"); !strings.Contains(got, "too common") {
				t.Fatalf("passwordProblem(%q) = %q, want too common", p, got)
			}
		})
	}
	fine := []string{
		"correct-battery-staple-horse", "mypassword2024x", "tangerine otter lamp", "Vx9#kq2!Lm0z", "839201746352",
		"alice-in-a-long-sentence",
	}
	for _, p := range fine {
		t.Run(p, func(t *testing.T) {
			if got := passwordProblem(p, "alice"); got != "" {
				t.Fatalf("passwordProblem(%q) = %q, want accepted", p, got)
			}
		})
	}
}
