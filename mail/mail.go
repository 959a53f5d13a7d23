// Package mail sends Latchkey's email: the verification and password-reset
// messages of account self-service. A Message is composed from a pair of
// embedded templates (templates/mail/NAME.txt and NAME.html, plain text and
// HTML alternatives of one mail) and handed to a Sender: SMTP (a real
// server named by smtp.url, through github.com/wneessen/go-mail) or, when
// none is configured, an Outbox that logs each mail and keeps the last few
// for the /dev/mail page, so a laptop needs no mail server.
package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/latchkey/latchkey/templates"
)

// ErrTemplate means a mail template is missing or failed to render.
var ErrTemplate = errors.New("mail: template")

// Message is one mail, ready to send.
type Message struct {
	To      string
	Subject string
	// Text is the plain-text body; HTML its HTML alternative.
	Text string
	HTML string
	// At is when the message was handed to the sender.
	At time.Time
}

// Sender delivers messages.
type Sender interface {
	// Send delivers m or returns why not.
	Send(ctx context.Context, m Message) error
}

// Composer renders the embedded mail templates.
type Composer struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// NewComposer parses every mail template.
func NewComposer() (*Composer, error) {
	text, html, err := templates.ParseMail()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTemplate, err)
	}
	return &Composer{text: text, html: html}, nil
}

// Compose renders the mail name (e.g. "verify", "reset") for to with data.
// The text template's first line is "Subject: …"; the rest is the body.
func (c *Composer) Compose(name, to string, data any) (Message, error) {
	var text, html bytes.Buffer
	if err := c.text.ExecuteTemplate(&text, name+".txt", data); err != nil {
		return Message{}, fmt.Errorf("%w: %s.txt: %w", ErrTemplate, name, err)
	}
	if err := c.html.ExecuteTemplate(&html, name+".html", data); err != nil {
		return Message{}, fmt.Errorf("%w: %s.html: %w", ErrTemplate, name, err)
	}
	first, body, _ := strings.Cut(text.String(), "\n")
	subject, ok := strings.CutPrefix(first, "Subject: ")
	if !ok {
		return Message{}, fmt.Errorf("%w: %s.txt does not start with a Subject: line", ErrTemplate, name)
	}
	return Message{To: to, Subject: strings.TrimSpace(subject), Text: strings.TrimLeft(body, "\n"), HTML: html.String()}, nil
}
