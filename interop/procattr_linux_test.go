package interop

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel stop cmd's process when the test binary dies, so
// that a web app whose test crashed or timed out does not outlive it.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
