package client

import "time"

// SlowDownStep is the step slow_down adds to the polling interval in this
// package's tests: short, so that they run fast.
var SlowDownStep = func() time.Duration {
	slowDownStep = 150 * time.Millisecond
	return slowDownStep
}()
