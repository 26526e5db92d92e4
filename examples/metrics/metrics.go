package main

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/middleware"
	"github.com/keyway-go/keyway/rp"
)

// loginReasons are the values of the reason label: rp's fixed list.
var loginReasons = []string{
	rp.ReasonStart, rp.ReasonRequest, rp.ReasonState, rp.ReasonIssuer,
	rp.ReasonProviderError, rp.ReasonTokenEndpoint, rp.ReasonIDToken,
	rp.ReasonNonce, rp.ReasonUserinfo, rp.ReasonSession, rp.ReasonOther,
}

// newMetrics registers Keyway's counters with reg and returns the hooks
// that feed them, for rp.Config.Hooks and middleware.Config.Hooks:
//
//	keyway_logins_total{result}                     started, success, failure
//	keyway_login_failures_total{reason}             rp's Reason constants
//	keyway_refreshes_total{result}                  success, invalid_grant, failure
//	keyway_logouts_total{channel,result}            channel rp, backchannel, frontchannel
//	keyway_token_verifications_total{result,cache}  success or failure; hit or miss
//	keyway_jwks_fetches_total{result}               success, failure
//
// Every label takes values from a fixed list, never an error's text or an
// issuer, so the number of series stays bounded; each series is created at
// zero. The hooks are safe for concurrent use. It panics if reg already
// holds these counters, as prometheus.MustRegister does.
func newMetrics(reg prometheus.Registerer) (rp.Hooks, middleware.Hooks) {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keyway_" + name, Help: help}, labels)
		reg.MustRegister(c)
		return c
	}
	logins := counter("logins_total", "Logins started, and logins that succeeded or failed.", "result")
	failures := counter("login_failures_total", "Failed logins by reason.", "reason")
	refreshes := counter("refreshes_total", "Refresh token grants sent for sessions, by outcome.", "result")
	logouts := counter("logouts_total", "Logouts by channel and outcome.", "channel", "result")
	verifications := counter("token_verifications_total", "Access token verifications by outcome and token cache use.", "result", "cache")
	fetches := counter("jwks_fetches_total", "Key set fetches by outcome.", "result")

	for _, r := range []string{"started", "success", "failure"} {
		logins.WithLabelValues(r)
	}
	for _, r := range loginReasons {
		failures.WithLabelValues(r)
	}
	for _, r := range []string{"success", "invalid_grant", "failure"} {
		refreshes.WithLabelValues(r)
	}
	for _, ch := range []string{"rp", "backchannel", "frontchannel"} {
		logouts.WithLabelValues(ch, "success")
		if ch != "rp" {
			logouts.WithLabelValues(ch, "failure")
		}
	}
	for _, c := range []string{"hit", "miss"} {
		verifications.WithLabelValues("success", c)
		verifications.WithLabelValues("failure", c)
	}
	fetches.WithLabelValues("success")
	fetches.WithLabelValues("failure")

	rpHooks := rp.Hooks{
		LoginStarted:   func(context.Context) { logins.WithLabelValues("started").Inc() },
		LoginSucceeded: func(context.Context) { logins.WithLabelValues("success").Inc() },
		LoginFailed: func(_ context.Context, reason string, _ error) {
			logins.WithLabelValues("failure").Inc()
			failures.WithLabelValues(reason).Inc()
		},
		Refreshed: func(_ context.Context, err error) {
			switch {
			case err == nil:
				refreshes.WithLabelValues("success").Inc()
			case errors.Is(err, client.ErrInvalidGrant):
				refreshes.WithLabelValues("invalid_grant").Inc()
			default:
				refreshes.WithLabelValues("failure").Inc()
			}
		},
		LoggedOut: func(context.Context) { logouts.WithLabelValues("rp", "success").Inc() },
		BackchannelLogout: func(_ context.Context, err error) {
			logouts.WithLabelValues("backchannel", result(err)).Inc()
		},
		FrontchannelLogout: func(_ context.Context, err error) {
			logouts.WithLabelValues("frontchannel", result(err)).Inc()
		},
	}
	mwHooks := middleware.Hooks{
		Verified: func(cacheHit bool, err error) {
			cache := "miss"
			if cacheHit {
				cache = "hit"
			}
			verifications.WithLabelValues(result(err), cache).Inc()
		},
		JWKSFetched: func(_ string, err error) { fetches.WithLabelValues(result(err)).Inc() },
	}
	return rpHooks, mwHooks
}

// result is the result label of an outcome.
func result(err error) string {
	if err != nil {
		return "failure"
	}
	return "success"
}
