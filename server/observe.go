package server

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// observe reports every request to o once it is served. The route is the
// pattern the request matched (c.FullPath), so the label set stays as
// small as the route table whatever paths clients send.
func observe(o RequestObserver) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		o.ObserveRequest(c.FullPath(), c.Request.Method, c.Writer.Status(), time.Since(start))
	}
}

// Readiness timeouts: the database gets longer, as a busy pool may queue.
const (
	readyDBTimeout    = 2 * time.Second
	readyRedisTimeout = time.Second
)

// readyz serves GET /readyz. It pings the database and, when configured,
// Redis (at the same time) and answers
//
//	200 {"status":"ok","database":"ok","redis":"ok"}        every dependency answers
//	503 {"status":"unavailable",…}                           the database, or a required Redis, does not
//	200 {"status":"degraded",…,"redis":"unreachable"}        only an optional Redis does not
//
// Redis is required when rate limits fail closed (rate_limits.fail_open
// false): then every API request would be refused with 503 anyway, so the
// instance should leave the load balancer's rotation. "redis" is absent
// without Redis.
func readyz(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		var redisErr error
		var wg sync.WaitGroup
		if d.Redis != nil {
			wg.Go(func() {
				rctx, cancel := context.WithTimeout(ctx, readyRedisTimeout)
				defer cancel()
				redisErr = d.Redis.Ping(rctx)
			})
		}
		dctx, cancel := context.WithTimeout(ctx, readyDBTimeout)
		dbErr := d.DB.Ping(dctx)
		cancel()
		wg.Wait()

		body := gin.H{"status": "ok", "database": "ok"}
		status := http.StatusOK
		if dbErr != nil {
			d.Logger.WarnContext(ctx, "readiness check failed: database", "error", dbErr)
			body["database"] = "unreachable"
			body["status"], status = "unavailable", http.StatusServiceUnavailable
		}
		if d.Redis != nil {
			body["redis"] = "ok"
			if redisErr != nil {
				d.Logger.WarnContext(ctx, "readiness check failed: redis", "error", redisErr, "required", d.RedisRequired)
				body["redis"] = "unreachable"
				switch {
				case d.RedisRequired:
					body["status"], status = "unavailable", http.StatusServiceUnavailable
				case dbErr == nil:
					body["status"] = "degraded"
				}
			}
		}
		c.Header("Cache-Control", "no-store")
		c.JSON(status, body)
	}
}
