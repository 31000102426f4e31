import AMQP
import Foundation
import Glibc
import Synchronization

/// A TCP relay on 127.0.0.1 to another loopback port whose connections a test can cut: a broker node that dies
/// under a live connection, without disturbing the broker the other suites share. One thread accepts, one thread
/// per connection copies both ways; ``close()`` stops them all.
final class LoopbackProxy: Sendable {
    let port: Int
    private let listener: Int32
    private let targetPort: Int
    private let state = Mutex(State())

    private struct State {
        /// Open relays: the accepted socket and its upstream socket.
        var relays: [(client: Int32, upstream: Int32)] = []
        var accepted = 0
        var closed = false
    }

    /// `127.0.0.1:<port>`, for a connection's endpoint list.
    var endpoint: AMQPConfiguration.Endpoint { AMQPConfiguration.Endpoint(host: "127.0.0.1", port: port) }

    /// Connections accepted so far (open or not).
    var acceptedCount: Int { state.withLock { $0.accepted } }

    /// Listens on a fresh ephemeral port of 127.0.0.1 and relays every connection to `127.0.0.1:<targetPort>`.
    init(forwardingTo targetPort: Int) throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw ProxyError(call: "socket", errno: errno) }
        var address = Self.loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        let named = bound == 0 ? withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        } : -1
        guard named == 0, listen(descriptor, 16) == 0 else {
            let failure = ProxyError(call: bound != 0 ? "bind" : named != 0 ? "getsockname" : "listen", errno: errno)
            Glibc.close(descriptor)
            throw failure
        }
        self.listener = descriptor
        self.port = Int(UInt16(bigEndian: address.sin_port))
        self.targetPort = targetPort
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "proxy-accept"
        thread.start()
    }

    /// Cuts every open relay at once (both sides see the TCP connection end) and keeps accepting new ones.
    func dropConnections() {
        state.withLock { state in
            for relay in state.relays {
                shutdown(relay.client, Int32(SHUT_RDWR))
                shutdown(relay.upstream, Int32(SHUT_RDWR))
            }
        }
    }

    /// Stops accepting and cuts every relay; the threads end by themselves.
    func close() {
        let wasClosed = state.withLock { state in
            defer { state.closed = true }
            return state.closed
        }
        guard !wasClosed else { return }
        dropConnections()
        // Wakes the blocked accept (EINVAL on Linux); the accept thread closes the socket.
        shutdown(listener, Int32(SHUT_RDWR))
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR, !state.withLock({ $0.closed }) { continue }
                break
            }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: targetPort)
            let connected = upstream >= 0 && withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            } == 0
            let registered = connected && state.withLock { state in
                guard !state.closed else { return false }
                state.accepted += 1
                state.relays.append((client, upstream))
                return true
            }
            guard registered else {
                Glibc.close(client)
                if upstream >= 0 { Glibc.close(upstream) }
                continue
            }
            let thread = Thread { [self] in relay(client, upstream) }
            thread.name = "proxy-relay"
            thread.start()
        }
        Glibc.close(listener)
    }

    /// Copies both ways until either side ends or fails, then forgets and closes both sockets.
    private func relay(_ client: Int32, _ upstream: Int32) {
        var descriptors = [pollfd(fd: client, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: upstream, events: Int16(POLLIN), revents: 0)]
        var buffer = [UInt8](repeating: 0, count: 65_536)
        copying: while true {
            descriptors[0].revents = 0
            descriptors[1].revents = 0
            if poll(&descriptors, 2, -1) < 0 {
                if errno == EINTR { continue }
                break
            }
            for (from, to) in [(0, 1), (1, 0)] where descriptors[from].revents != 0 {
                let count = recv(descriptors[from].fd, &buffer, buffer.count, 0)
                guard count > 0, Self.sendAll(buffer[..<count], to: descriptors[to].fd) else { break copying }
            }
        }
        state.withLock { state in
            state.relays.removeAll { $0.client == client }
            Glibc.close(client)
            Glibc.close(upstream)
        }
    }

    private static func sendAll(_ bytes: ArraySlice<UInt8>, to descriptor: Int32) -> Bool {
        var rest = bytes
        while !rest.isEmpty {
            // MSG_NOSIGNAL: a peer that is gone must end this relay, not the test process (SIGPIPE).
            let sent = rest.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0, errno == EINTR { continue }
            guard sent > 0 else { return false }
            rest = rest.dropFirst(sent)
        }
        return true
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    struct ProxyError: Error, CustomStringConvertible {
        let call: String
        let errno: Int32
        var description: String { "proxy: \(call) failed: errno \(errno)" }
    }
}
