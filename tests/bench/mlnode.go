// mlnode - one hashicorp/memberlist node, the yardstick of tests/bench/wire.sh.
//
// Debian's golang-github-hashicorp-memberlist-dev (0.2.2) with its LAN
// defaults (probe every 1 s, timeout 500 ms, 3 indirect checks, suspicion
// 4 x log10(N) s, gossip every 200 ms to 3 nodes, push-pull every 30 s), so
// that meshwatch is measured against what a Consul/Serf agent would send on
// the same link.  With -key, every packet is encrypted (AES-GCM) as
// meshwatch's are.  The bench starts one per namespace (or per loopback
// port) and reads its stdout: one line per membership event,
//
//	<unix ms> join|leave|update <name> <addr>
//
// ("leave" is memberlist's verdict for a dead node as well as a left one).
// It runs until SIGTERM/SIGINT (then leaves gracefully) or SIGKILL.
//
// Built by the bench itself: GOPATH=/usr/share/gocode GO111MODULE=off go build.
package main

import (
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/memberlist"
)

// events prints membership changes with a millisecond timestamp; one
// mutex keeps lines whole (memberlist calls from several goroutines).
type events struct{ mu sync.Mutex }

func (e *events) line(kind string, n *memberlist.Node) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fmt.Printf("%d %s %s %s\n", time.Now().UnixNano()/1e6, kind, n.Name, n.Address())
}
func (e *events) NotifyJoin(n *memberlist.Node)   { e.line("join", n) }
func (e *events) NotifyLeave(n *memberlist.Node)  { e.line("leave", n) }
func (e *events) NotifyUpdate(n *memberlist.Node) { e.line("update", n) }

func main() {
	name := flag.String("name", "", "node name (unique)")
	bind := flag.String("bind", "127.0.0.1", "address to bind and advertise")
	port := flag.Int("port", 7946, "UDP and TCP port")
	join := flag.String("join", "", "comma-separated host:port seeds")
	key := flag.String("key", "", "base64 AES key (16/24/32 bytes): encrypt every packet")
	flag.Parse()
	if *name == "" {
		fmt.Fprintln(os.Stderr, "mlnode: -name is required")
		os.Exit(2)
	}
	conf := memberlist.DefaultLANConfig()
	conf.Name = *name
	conf.BindAddr = *bind
	conf.BindPort = *port
	conf.AdvertiseAddr = *bind
	conf.AdvertisePort = *port
	conf.Events = &events{}
	conf.LogOutput = io.Discard
	if *key != "" {
		k, err := base64.StdEncoding.DecodeString(*key)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mlnode: -key:", err)
			os.Exit(2)
		}
		conf.SecretKey = k
	}
	list, err := memberlist.Create(conf)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mlnode:", err)
		os.Exit(1)
	}
	// Seeds may not be up yet: retry until one answers (bounded).
	if *join != "" {
		seeds := strings.Split(*join, ",")
		for i := 0; i < 100; i++ {
			if _, err := list.Join(seeds); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	list.Leave(time.Second)
	list.Shutdown()
}
