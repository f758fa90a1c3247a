// Command pause is the pod sandbox ("infra") container's process for the local
// cluster, where no registry is reachable to pull registry.k8s.io/pause. Like
// the upstream pause container it holds the pod's namespaces open and does
// nothing else: as PID 1 of the pod it reaps orphaned children (SIGCHLD), exits
// 0 on SIGINT or SIGTERM, and otherwise sleeps forever. hack/build-pause.py
// builds it statically and packs it as the image localhost/pause:1.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("pause (mlmodel-operator local cluster)")
		return
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "Warning: pause should be the first process")
	}
	// Installing handlers matters: the kernel drops signals to PID 1 that it
	// has no handler for, so without them SIGTERM would not stop the sandbox.
	signals := make(chan os.Signal, 16)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		os.Exit(0)
	}
}

// reap collects every exited child. Signals coalesce, so one SIGCHLD may stand
// for several exits: wait until none is left rather than once per signal.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}
