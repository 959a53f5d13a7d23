// Package clientip carries the client IP address of a request: the server
// resolves it once per request (the TCP peer, or the address a trusted
// proxy forwarded in X-Forwarded-For; server.trusted_proxies) and stores it
// in the request's context, and every consumer — per-IP guessing limits,
// audit entries, access logs, the OAuth endpoints behind gin.WrapF — reads
// it with FromRequest. It is the one home of "who is the client", so no
// package trusts a forwarding header on its own.
package clientip

import (
	"context"
	"net"
	"net/http"
)

type ctxKey struct{}

// WithIP returns ctx carrying ip as the resolved client address.
func WithIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, ctxKey{}, ip)
}

// FromRequest returns the client IP the server resolved for r, or, when r
// did not pass through the server (a handler under test), the TCP peer's
// address from r.RemoteAddr. Forwarding headers are never read here.
func FromRequest(r *http.Request) string {
	if ip, ok := r.Context().Value(ctxKey{}).(string); ok && ip != "" {
		return ip
	}
	return Peer(r)
}

// Peer returns the host part of r.RemoteAddr (the TCP peer).
func Peer(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
