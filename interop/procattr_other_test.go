//go:build !linux

package interop

import "os/exec"

// dieWithParent does nothing here: only Linux can tie a child's life to its
// parent's. A test that crashes may leave its web app running.
func dieWithParent(*exec.Cmd) {}
