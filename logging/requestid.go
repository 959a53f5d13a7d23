// Package logging holds Latchkey's log/slog handler wrappers: one that
// stamps every line written during a request with its request id, taken
// from the request's context, and one that redacts credentials (by
// attribute name and by the shape of the value) before a line is written.
package logging

import (
	"context"
	"log/slog"
)

// RequestIDKey is the attribute name of the request id in log lines.
const RequestIDKey = "request_id"

type requestIDCtxKey struct{}

// ContextWithRequestID returns ctx carrying the request id id.
func ContextWithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDCtxKey{}, id)
}

// RequestID returns the request id carried by ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDCtxKey{}).(string)
	return id
}

// RequestIDHandler adds the request id carried by the context of a
// *Context log call (slog.InfoContext, Logger.Log, …) as the attribute
// request_id. A line that already names request_id itself, or a logger
// made With one, is left as it is, so the attribute appears once. (On a
// logger made WithGroup the id lands inside the open group: slog offers no
// way back to the top level there.)
type RequestIDHandler struct {
	next slog.Handler
	// has reports that WithAttrs already added a top-level request_id.
	has bool
	// grouped reports that WithGroup was called: a request_id added later
	// belongs to the group, not the top level.
	grouped bool
}

// NewRequestIDHandler wraps next.
func NewRequestIDHandler(next slog.Handler) *RequestIDHandler {
	return &RequestIDHandler{next: next}
}

// Enabled implements slog.Handler.
func (h *RequestIDHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

// Handle implements slog.Handler.
func (h *RequestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.has || ctx == nil {
		return h.next.Handle(ctx, r)
	}
	id := RequestID(ctx)
	if id == "" || recordHas(r, RequestIDKey) {
		return h.next.Handle(ctx, r)
	}
	r = r.Clone()
	r.AddAttrs(slog.String(RequestIDKey, id))
	return h.next.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *RequestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	has := h.has
	if !h.grouped {
		for _, a := range as {
			has = has || a.Key == RequestIDKey
		}
	}
	return &RequestIDHandler{next: h.next.WithAttrs(as), has: has, grouped: h.grouped}
}

// WithGroup implements slog.Handler.
func (h *RequestIDHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &RequestIDHandler{next: h.next.WithGroup(name), has: h.has, grouped: true}
}

func recordHas(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}
