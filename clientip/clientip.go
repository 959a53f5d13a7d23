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
	"net/netip"
)

type ctxKey struct{}

// WithIP returns ctx carrying ip as the resolved client address (in
// canonical form: an IPv4-mapped IPv6 address becomes the IPv4 address).
func WithIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, ctxKey{}, canonical(ip))
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

// FromContext returns the client IP the server resolved for the request
// ctx belongs to, or "" when ctx carries none (work done outside a
// request): for code that holds the request's context but not the request
// (a fosite token endpoint handler).
func FromContext(ctx context.Context) string {
	ip, _ := ctx.Value(ctxKey{}).(string)
	return ip
}

// Peer returns the host part of r.RemoteAddr (the TCP peer).
func Peer(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return canonical(r.RemoteAddr)
	}
	return canonical(host)
}

// Bucket is the key per-IP guessing limits count a request under: the
// client's IPv4 address, or the /64 network of its IPv6 address — one
// host usually holds a whole /64 (RFC 4291 §2.5.1, SLAAC), so counting
// per /128 would let it rotate addresses past every limit.
func Bucket(r *http.Request) string {
	ip := FromRequest(r)
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() {
		return ip
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

// canonical returns ip with an IPv4-mapped IPv6 address unmapped and any
// zone dropped, so one client is one string; anything that is not an IP
// address is returned as it is.
func canonical(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	return a.Unmap().WithZone("").String()
}
