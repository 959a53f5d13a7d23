// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp)
// in-process for tests: it accepts every message, optionally requires
// AUTH PLAIN with one username and password, and hands each received
// message to the test, parsed (RFC 5322 headers, MIME parts decoded).
package smtptest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one received mail.
type Message struct {
	From    string
	To      []string
	Subject string
	Header  netmail.Header
	// Text and HTML are the decoded text/plain and text/html parts.
	Text string
	HTML string
	// Raw is the message as received.
	Raw []byte
}

// Server is an SMTP server listening on 127.0.0.1.
type Server struct {
	// Addr is host:port.
	Addr string
	// Auth holds the AUTH PLAIN identities seen, in order.
	Auth []string

	user, pass string
	srv        *smtp.Server
	msgs       chan Message
	mu         sync.Mutex
	gate       chan struct{} // while non-nil, DATA waits for it to close
	arrived    chan struct{} // signalled when a held DATA begins waiting
}

// Hold makes every message wait at DATA until Release, so a test can see
// what a client does while a send is still under way. Held reports each
// message that begins waiting.
func (s *Server) Hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate, s.arrived = make(chan struct{}), make(chan struct{}, 16)
}

// Held waits up to timeout for a held message to reach DATA.
func (s *Server) Held(t testing.TB, timeout time.Duration) {
	t.Helper()
	s.mu.Lock()
	arrived := s.arrived
	s.mu.Unlock()
	select {
	case <-arrived:
	case <-time.After(timeout):
		t.Fatalf("smtptest: no held message within %s", timeout)
	}
}

// Release lets held messages through.
func (s *Server) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
}

// Start starts a server for the test's lifetime. With user non-empty every
// session must authenticate with AUTH PLAIN as user/pass.
func Start(t testing.TB, user, pass string) *Server {
	t.Helper()
	s := &Server{user: user, pass: pass, msgs: make(chan Message, 16)}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }))
	s.srv.Domain = "localhost"
	s.srv.AllowInsecureAuth = true
	s.srv.ReadTimeout, s.srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = l.Addr().String()
	go func() { _ = s.srv.Serve(l) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

// URL is the smtp.url that reaches this server (no TLS; with credentials
// when the server requires them).
func (s *Server) URL() string {
	if s.user == "" {
		return "smtp://" + s.Addr + "?tls=none"
	}
	return "smtp://" + s.user + ":" + s.pass + "@" + s.Addr + "?tls=none"
}

// Next waits up to timeout for the next received message.
func (s *Server) Next(t testing.TB, timeout time.Duration) Message {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(timeout):
		t.Fatalf("smtptest: no message within %s", timeout)
		return Message{}
	}
}

// Pending reports how many received messages no Next has taken.
func (s *Server) Pending() int { return len(s.msgs) }

var linkRe = regexp.MustCompile(`https?://[^\s"<>]+`)

// Link returns the first URL in the message's text part containing
// contains, or "".
func (m Message) Link(contains string) string {
	for _, l := range linkRe.FindAllString(m.Text, -1) {
		if strings.Contains(l, contains) {
			return l
		}
	}
	return ""
}

type session struct {
	s      *Server
	authed bool
	from   string
	to     []string
}

func (x *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (x *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != x.s.user || pass != x.s.pass {
			return errors.New("invalid credentials")
		}
		x.s.mu.Lock()
		x.s.Auth = append(x.s.Auth, user)
		x.s.mu.Unlock()
		x.authed = true
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.s.user != "" && !x.authed {
		return smtp.ErrAuthRequired
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	gate, arrived := x.s.gate, x.s.arrived
	x.s.mu.Unlock()
	if gate != nil {
		arrived <- struct{}{}
		<-gate
	}
	m, err := parse(raw)
	if err != nil {
		return err
	}
	m.From, m.To = x.from, x.to
	x.s.msgs <- m
	return nil
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

// parse reads raw as RFC 5322 with MIME parts, decoding transfer encodings.
func parse(raw []byte) (Message, error) {
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Message{}, err
	}
	dec := new(mime.WordDecoder)
	subject, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
	out := Message{Subject: subject, Header: msg.Header, Raw: raw}
	err = walk(&out, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	return out, err
}

func walk(out *Message, ctype, cte string, body io.Reader) error {
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := walk(out, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(cte) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		b, err := io.ReadAll(body)
		if err != nil {
			return err
		}
		body = base64Reader(b)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	switch mt {
	case "text/plain":
		out.Text = strings.ReplaceAll(string(b), "\r\n", "\n")
	case "text/html":
		out.HTML = string(b)
	}
	return nil
}

func base64Reader(b []byte) io.Reader {
	clean := strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, string(b))
	return base64.NewDecoder(base64.StdEncoding, strings.NewReader(clean))
}
