// Command pstest runs Google's in-memory Pub/Sub fake (cloud.google.com/go/pubsub/pstest)
// as a standalone gRPC server for local development and tests.
//
// Debian's golang-google-cloud-dev (cloud.google.com/go 0.56) only offers
// pstest.NewServer(), which listens on a random localhost port. The address is
// printed as the single first line on stdout; use it as PUBSUB_EMULATOR_HOST.
// The process then blocks until SIGTERM or SIGINT.
//
// Build (GOPATH mode, no network), from the repository root:
//
//	mkdir -p .gopath/src && ln -sfn ../../emulator/pstest .gopath/src/pstest
//	GO111MODULE=off GOPATH=$PWD/.gopath:/usr/share/gocode go build -o .local/bin/pstest pstest
//
// (`make pstest` does exactly this.)
package main

import (
	"bufio"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"cloud.google.com/go/pubsub/pstest"
)

func main() {
	srv := pstest.NewServer()

	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, srv.Addr)
	if err := out.Flush(); err != nil {
		fmt.Fprintf(os.Stderr, "pstest: cannot write address: %v\n", err)
		os.Exit(1)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	sig := <-sigs
	fmt.Fprintf(os.Stderr, "pstest: received %v, shutting down\n", sig)
	srv.Close()
}
