// Package metrics owns Latchkey's Prometheus metrics. Other packages do
// not import it or Prometheus: each declares the callback or the small
// interface it needs (oauth.Config.OnTokenIssued, keys.Config.OnVerify,
// server.RequestObserver, …) and server.Build connects them to the methods here.
//
// Every metric is registered on the registry the caller passes to New,
// never on Prometheus's global default registry.
package metrics

import (
	"database/sql"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace prefixes every metric name.
const Namespace = "latchkey"

// UnmatchedRoute is the route label of requests that match no route.
const UnmatchedRoute = "unmatched"

// Metrics records Latchkey's metrics. A nil *Metrics records nothing, so
// its methods may be wired as callbacks whether or not metrics are on.
type Metrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	tokens        *prometheus.CounterVec
	verifications *prometheus.CounterVec
	refusals      *prometheus.CounterVec
	backendErrors prometheus.Counter
	purged        *prometheus.CounterVec
	backchannel   *prometheus.CounterVec
	keyWarnings   *prometheus.CounterVec
	caches        *cacheCollector
	listening     prometheus.Gauge
	reg           prometheus.Registerer
	// statuses holds the label text of status codes 0–599 so recording a
	// request formats no number.
	statuses [600]string
}

// New creates every metric and registers it on reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "http_requests_total",
			Help: "HTTP requests served, by route pattern (\"unmatched\" when none matched), method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "tokens_issued_total",
			Help: "Access tokens issued, by grant (authorization_code, refresh_token, client_credentials, device_code, token_exchange, api_key_exchange).",
		}, []string{"grant"}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "key_verifications_total",
			Help: "API key verifications, by result (valid, malformed, not_found, expired, revoked, error).",
		}, []string{"result"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "rate_limit_refusals_total",
			Help: "Requests refused with 429, by the limit that refused them: api_key_, client_ or user_ quota or burst, " +
				"token_endpoint, login, signup, credential_guessing, password_reset, password_change, verify_email.",
		}, []string{"scope"}),
		backendErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "rate_limit_backend_errors_total",
			Help: "Rate-limit decisions that could not be made because the shared limiter (Redis) failed.",
		}),
		purged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "janitor_purged_rows_total",
			Help: "Expired rows deleted by the janitor, by table.",
		}, []string{"table"}),
		backchannel: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "backchannel_logout_total",
			Help: "OpenID Connect Back-Channel Logout tokens, by result (sent, failed: given up after retries or dropped).",
		}, []string{"result"}),
		keyWarnings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "key_expiry_warnings_total",
			Help: "\"API key expires soon\" mails, by result (sent, failed: retried on a later pass).",
		}, []string{"result"}),
		caches: &cacheCollector{desc: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "cache_requests_total"),
			"Lookups in in-process caches, by cache and result (hit, miss).", []string{"cache", "result"}, nil)},
		listening: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "invalidation_listener_up",
			Help: "1 while cache invalidations from other instances arrive (PostgreSQL LISTEN connected; always 1 on SQLite, " +
				"which has one instance), 0 while the listener is disconnected and the caches are bypassed.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.tokens, m.verifications, m.refusals,
		m.backendErrors, m.purged, m.backchannel, m.keyWarnings, m.caches, m.listening} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// The label values known up front get their series at zero, so a
	// rate() over them is defined before the first event.
	for _, g := range []string{"authorization_code", "refresh_token", "client_credentials", "device_code", "token_exchange", "api_key_exchange"} {
		m.tokens.WithLabelValues(g)
	}
	for _, r := range []string{"valid", "malformed", "not_found", "expired", "revoked", "error"} {
		m.verifications.WithLabelValues(r)
	}
	for _, s := range []string{"api_key_quota", "api_key_burst", "client_quota", "client_burst", "user_quota",
		"user_burst", "token_endpoint", "login", "signup", "credential_guessing", "password_reset", "password_change", "verify_email"} {
		m.refusals.WithLabelValues(s)
	}
	m.purged.WithLabelValues("requests")
	m.backchannel.WithLabelValues("sent")
	m.backchannel.WithLabelValues("failed")
	m.keyWarnings.WithLabelValues("sent")
	m.keyWarnings.WithLabelValues("failed")
	m.listening.Set(1)
	for i := range m.statuses {
		m.statuses[i] = strconv.Itoa(i)
	}
	return m, nil
}

// ObserveRequest records one served request. route is the matched route
// pattern ("/user/keys/:handle", never the raw path) or "" when no route
// matched; methods other than the standard ones are recorded as "other",
// so neither label grows with what clients send.
func (m *Metrics) ObserveRequest(route, method string, status int, elapsed time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = UnmatchedRoute
	}
	method = normalizeMethod(method)
	st := "other"
	if status >= 0 && status < len(m.statuses) {
		st = m.statuses[status]
	}
	m.requests.WithLabelValues(route, method, st).Inc()
	m.duration.WithLabelValues(route, method).Observe(elapsed.Seconds())
}

func normalizeMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// BackchannelLogout counts one logout token delivered (ok) or given up on.
func (m *Metrics) BackchannelLogout(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.backchannel.WithLabelValues("sent").Inc()
	} else {
		m.backchannel.WithLabelValues("failed").Inc()
	}
}

// TokenIssued counts one access token issued under grant.
func (m *Metrics) TokenIssued(grant string) {
	if m != nil {
		m.tokens.WithLabelValues(grant).Inc()
	}
}

// KeyVerified counts one API key verification with its result.
func (m *Metrics) KeyVerified(result string) {
	if m != nil {
		m.verifications.WithLabelValues(result).Inc()
	}
}

// RateLimited counts one request refused with 429 by the limit scope.
func (m *Metrics) RateLimited(scope string) {
	if m != nil {
		m.refusals.WithLabelValues(scope).Inc()
	}
}

// RateLimitBackendError counts one decision the shared limiter could not make.
func (m *Metrics) RateLimitBackendError() {
	if m != nil {
		m.backendErrors.Inc()
	}
}

// KeyExpiryWarning counts one "expires soon" mail sent, or one that failed.
func (m *Metrics) KeyExpiryWarning(sent bool) {
	if m == nil {
		return
	}
	if sent {
		m.keyWarnings.WithLabelValues("sent").Inc()
	} else {
		m.keyWarnings.WithLabelValues("failed").Inc()
	}
}

// InvalidationListening sets invalidation_listener_up: whether the cache
// invalidation listener receives (it starts at 1; server.Build sets it
// to 0 until the PostgreSQL listener connects).
func (m *Metrics) InvalidationListening(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.listening.Set(1)
	} else {
		m.listening.Set(0)
	}
}

// JanitorPurged counts n expired rows the janitor deleted from table.
func (m *Metrics) JanitorPurged(table string, n int64) {
	if m != nil && n > 0 {
		m.purged.WithLabelValues(table).Add(float64(n))
	}
}

// Cache reports the cache named name in cache_requests_total; stats
// returns its cumulative hits and misses and is called at scrape time
// only, so the cache itself needs nothing but two atomic counters.
func (m *Metrics) Cache(name string, stats func() (hits, misses uint64)) {
	if m == nil {
		return
	}
	m.caches.mu.Lock()
	m.caches.caches = append(m.caches.caches, namedCache{name: name, stats: stats})
	m.caches.mu.Unlock()
}

// DBPool reports the connection pool db as name (the db_name label of
// Prometheus's go_sql_* pool metrics).
func (m *Metrics) DBPool(name string, db *sql.DB) error {
	if m == nil {
		return nil
	}
	return m.reg.Register(collectors.NewDBStatsCollector(db, name))
}

type namedCache struct {
	name  string
	stats func() (hits, misses uint64)
}

// cacheCollector reads cache counters when scraped.
type cacheCollector struct {
	desc   *prometheus.Desc
	mu     sync.Mutex
	caches []namedCache
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	caches := c.caches
	c.mu.Unlock()
	for _, nc := range caches {
		hits, misses := nc.stats()
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(hits), nc.name, "hit")
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(misses), nc.name, "miss")
	}
}
