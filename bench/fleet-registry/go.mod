module tagpilot.dev/fleet-registry

go 1.23
