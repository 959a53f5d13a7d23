package oauth

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// TestBackchannelFairBetweenPeople: one person's many deliveries to a
// client that hangs (their own app, say) do not queue everyone else's
// behind them: with one worker busy on the first of mallory's ten, alice's
// token is sent within a turn of hers, not after all of them; and mallory's line is
// capped, so her sign-outs cannot fill the queue and drop alice's.
func TestBackchannelFairBetweenPeople(t *testing.T) {
	res := &results{}
	p, db := newTestProviderWith(t, func(c *Config) {
		c.BackchannelWorkers = 1
		c.BackchannelRetries = -1
		c.OnBackchannelLogout = res.record
	}, nil)
	arrived := make(chan struct{}, 256)
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	t.Cleanup(func() { close(release); hang.Close() })
	rc := newReceiver(t, nil)
	evil := registerClient(t, p, db, ClientSpec{Name: "Mallory's app", BackchannelLogoutURI: hang.URL})
	good := registerClient(t, p, db, ClientSpec{Name: "Shop", BackchannelLogoutURI: rc.srv.URL})
	for i := range 10 {
		sessionIDToken(t, p, evil, "mallory", "sid-m"+strconv.Itoa(i))
	}
	sessionIDToken(t, p, good, "alice", "sid-a")

	p.SessionsEnded(t.Context(), "mallory")
	<-arrived // the worker is stuck on mallory's first delivery
	// Her line is full long before the queue is.
	for range backchannelPerPerson {
		p.backchannel.enqueue(logoutDelivery{userID: "mallory", clientID: evil.ID, uri: hang.URL, token: "t"})
	}
	// Nine of her ten were queued (one is in flight), so nine extra fit nowhere.
	if got := res.failed.Load(); got != 9 {
		t.Errorf("%d of mallory's extra deliveries dropped, want 9 (line cap %d)", got, backchannelPerPerson)
	}
	p.SessionsEnded(t.Context(), "alice")
	// Mallory's turn may come once more before alice's; never twice.
	for sent := 1; ; sent++ {
		release <- struct{}{} // the delivery in flight ends
		select {
		case tok := <-rc.tokens:
			if c := verifyLogoutToken(t, p, tok); c["sub"] != "alice" {
				t.Errorf("claims %v", c)
			}
			return
		case <-arrived:
			if sent > 1 {
				// The one worker sends in order, and the receiver queues
				// alice's token before answering: if it was sent before
				// this delivery of mallory's, it is waiting already (both
				// channels can be ready at once; select picks either).
				select {
				case tok := <-rc.tokens:
					if c := verifyLogoutToken(t, p, tok); c["sub"] != "alice" {
						t.Errorf("claims %v", c)
					}
					return
				default:
				}
				t.Fatalf("%d of mallory's deliveries went before alice's", sent+1)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("alice's logout token never arrived")
		}
	}
}
