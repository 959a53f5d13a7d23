package mail

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// ErrConfig means smtp.url or smtp.from cannot be used.
var ErrConfig = errors.New("mail: bad smtp configuration")

// sendTimeout bounds connecting to and talking with the SMTP server.
const sendTimeout = 15 * time.Second

// SMTP sends messages through one SMTP server.
type SMTP struct {
	from string
	host string
	opts []gomail.Option
}

// NewSMTP returns a sender for rawURL and from. rawURL is
//
//	smtp://[user:password@]host[:port][?tls=mandatory|opportunistic|none]
//	smtps://[user:password@]host[:port]
//
// smtp:// speaks STARTTLS (RFC 3207) and by default refuses a server that
// does not offer it (tls=mandatory); tls=opportunistic uses it when offered
// and tls=none never does, sending any password in the clear with AUTH
// PLAIN (only for a relay on the same host). smtps://
// is TLS from the first byte (RFC 8314 §3.3). Ports default to 587 and 465.
// Credentials, when given, are sent with the best mechanism the server
// offers (go-mail's auto-discovery, which offers no plain-text mechanism
// on an unencrypted connection). The error never repeats the URL,
// which may hold a password.
func NewSMTP(rawURL, from string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: smtp.url does not parse as a URL", ErrConfig)
	}
	if from == "" {
		return nil, fmt.Errorf("%w: smtp.from is required with smtp.url", ErrConfig)
	}
	host := u.Hostname()
	if host == "" {
		return nil, fmt.Errorf("%w: smtp.url names no host", ErrConfig)
	}
	opts := []gomail.Option{gomail.WithTimeout(sendTimeout)}
	port := 587
	auth := gomail.SMTPAuthAutoDiscover
	switch u.Scheme {
	case "smtps":
		port = 465
		opts = append(opts, gomail.WithSSL())
		if u.Query().Has("tls") {
			return nil, fmt.Errorf("%w: smtps:// is always TLS; tls= applies to smtp:// only", ErrConfig)
		}
	case "smtp":
		policy := gomail.TLSMandatory
		switch u.Query().Get("tls") {
		case "", "mandatory":
		case "opportunistic":
			policy = gomail.TLSOpportunistic
		case "none":
			policy = gomail.NoTLS
			// The operator chose plain text: auto-discovery would refuse
			// PLAIN there, so say it outright.
			auth = gomail.SMTPAuthPlainNoEnc
		default:
			return nil, fmt.Errorf("%w: smtp.url tls= must be mandatory, opportunistic or none", ErrConfig)
		}
		opts = append(opts, gomail.WithTLSPolicy(policy))
	default:
		return nil, fmt.Errorf("%w: smtp.url must start with smtp:// or smtps://", ErrConfig)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%w: smtp.url port must be 1–65535", ErrConfig)
		}
		port = n
	}
	opts = append(opts, gomail.WithPort(port))
	if u.User != nil && u.User.Username() != "" {
		pass, _ := u.User.Password()
		opts = append(opts, gomail.WithSMTPAuth(auth),
			gomail.WithUsername(u.User.Username()), gomail.WithPassword(pass))
	}
	m := gomail.NewMsg()
	if err := m.From(from); err != nil {
		return nil, fmt.Errorf("%w: smtp.from is not an address: %w", ErrConfig, err)
	}
	return &SMTP{from: from, host: host, opts: opts}, nil
}

// Send implements Sender: one connection per message (account mail is rare).
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return fmt.Errorf("mail: from: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("mail: to: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	c, err := gomail.NewClient(s.host, s.opts...)
	if err != nil {
		return fmt.Errorf("mail: client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("mail: send: %w", err)
	}
	return nil
}
