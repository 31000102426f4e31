// KVM host messages: see PingHostHandler (issue 2); the tracer comes with issue 3.
