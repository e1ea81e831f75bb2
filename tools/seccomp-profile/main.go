// Prints the seccomp profile of Dockyard's DinD sidecar (profile userNamespace):
// containerd's RuntimeDefault profile for a container with the capabilities given
// as arguments (what a Pod with seccompProfile RuntimeDefault and those
// capabilities gets), plus the syscalls given with -allow, as OCI LinuxSeccomp
// JSON, the format kubelet's Localhost profiles are read in.
//
// Run through ./generate, which pins containerd to the cluster's version.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"os"
	"strings"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func main() {
	allow := flag.String("allow", "", "comma-separated syscalls to allow besides the default profile's")
	flag.Parse()
	caps := []string{}
	for _, c := range flag.Args() {
		caps = append(caps, "CAP_"+strings.TrimPrefix(c, "CAP_"))
	}
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{
		Bounding: caps, Effective: caps, Permitted: caps,
	}}}
	profile := seccomp.DefaultProfile(spec)
	if *allow != "" {
		profile.Syscalls = append(profile.Syscalls, specs.LinuxSyscall{
			Names: strings.Split(*allow, ","), Action: specs.ActAllow,
		})
	}
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	if err := out.Encode(profile); err != nil {
		log.Fatal(err)
	}
}
