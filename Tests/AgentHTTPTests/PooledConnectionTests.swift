#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AgentHTTP
import Foundation
import Synchronization
import Testing

/// What ``AgentHTTPClient`` promises beyond the agent protocol: kept-alive connections,
/// a bounded response, no redirects. Checked on the wire with a plain-socket server that counts what it accepts.
@Suite("AgentHTTPClient connections: keep-alive, response size limit, no redirects", .timeLimit(.minutes(1)))
struct PooledConnectionTests {
    @Test("sequential calls to one agent share one kept-alive connection")
    func keepAlive() async throws {
        let server = try ScriptedHTTPServer { _ in .ok(#"{"success":true}"#) }
        defer { server.close() }
        let client = AgentHTTPClient()
        for _ in 0..<5 {
            let response = try await client.post(
                to: server.endpoint, path: "/echo", body: Data("{}".utf8), connectTimeout: .seconds(5),
                timeout: .seconds(5))
            #expect(response == AgentHTTPResponse(status: 200, body: Data(#"{"success":true}"#.utf8)))
        }
        #expect(server.acceptedConnections == 1)
        #expect(server.requests.count == 5)
        #expect(server.requests.allSatisfy { !$0.lowercased().contains("connection: close") })
    }

    @Test("a response over the size limit is invalidResponse, and the next call works on a new connection")
    func responseTooLarge() async throws {
        let server = try ScriptedHTTPServer { head in
            head.hasPrefix("POST /big ") ? .ok(String(repeating: "x", count: 4_096)) : .ok("{}")
        }
        defer { server.close() }
        let client = AgentHTTPClient(configuration: .init(maxResponseBytes: 1_024))
        let error = try await #require(throws: AgentHTTPError.self) {
            try await client.post(
                to: server.endpoint, path: "/big", body: Data("{}".utf8), connectTimeout: .seconds(5),
                timeout: .seconds(5))
        }
        #expect(error == .invalidResponse(endpoint: server.endpoint, path: "/big", reason: "body larger than 1024 bytes"))
        let small = try await client.post(
            to: server.endpoint, path: "/small", body: Data("{}".utf8), connectTimeout: .seconds(5), timeout: .seconds(5))
        #expect(small.status == 200)
        #expect(server.acceptedConnections == 2)
    }

    @Test("a redirect is returned as it came, never followed")
    func redirectNotFollowed() async throws {
        let target = try ScriptedHTTPServer { _ in .ok("{}") }
        defer { target.close() }
        let server = try ScriptedHTTPServer { _ in
            .init(status: "302 Found", headers: ["Location: \(target.endpoint.url(path: "/elsewhere"))"], body: "")
        }
        defer { server.close() }
        let response = try await AgentHTTPClient().post(
            to: server.endpoint, path: "/start", body: Data("{}".utf8), connectTimeout: .seconds(5),
            timeout: .seconds(5))
        #expect(response.status == 302)
        #expect(server.requests.count == 1)
        #expect(target.acceptedConnections == 0)
        #expect(target.requests.isEmpty)
    }
}

/// An HTTP/1.1 server on plain blocking sockets (one thread per connection), independent of the code under test:
/// it answers every request with `respond(requestHead)`, keeps connections open, and counts accepted connections.
final class ScriptedHTTPServer: Sendable {
    struct Reply: Sendable {
        var status: String
        var headers: [String]
        var body: String
        /// Close the connection instead of answering (an agent that stopped after reading the request).
        var closeWithoutAnswer = false

        static func ok(_ body: String) -> Reply { Reply(status: "200 OK", headers: [], body: body) }
        static let close = Reply(status: "", headers: [], body: "", closeWithoutAnswer: true)
    }

    let port: Int
    private let listener: Int32
    private let respond: @Sendable (String) -> Reply
    private let state = Mutex<(accepted: Int, requests: [String], connections: [Int32], closed: Bool)>((0, [], [], false))

    var endpoint: AgentEndpoint { AgentEndpoint(host: "127.0.0.1", port: port) }
    var acceptedConnections: Int { state.withLock { $0.accepted } }
    /// The head (request line and headers) of every request, in arrival order.
    var requests: [String] { state.withLock { $0.requests } }
    /// Connections open now (accepted and not yet closed by either side).
    var openConnections: Int { state.withLock { $0.connections.count } }

    init(respond: @escaping @Sendable (String) -> Reply) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(fd, raw, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        guard bound else {
            Glibc.close(fd)
            throw POSIXError(.EADDRNOTAVAIL)
        }
        self.listener = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
        self.respond = respond
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// Stops accepting and closes every connection.
    /// Shuts sockets down only: each is closed by the thread that reads it, under the lock for connections, so a
    /// descriptor number is never shut down after another socket of the process got it.
    func close() {
        state.withLock { state in
            state.closed = true
            for connection in state.connections {
                shutdown(connection, Int32(SHUT_RDWR))
            }
        }
        shutdown(listener, Int32(SHUT_RDWR))
    }

    private func acceptLoop() {
        while true {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else {
                Glibc.close(listener)
                return
            }
            let open = state.withLock { state in
                state.accepted += 1
                state.connections.append(connection)
                return !state.closed
            }
            guard open else {
                shutdown(connection, Int32(SHUT_RDWR))
                let thread = Thread { [self] in serve(connection) }
                thread.start()
                continue
            }
            let thread = Thread { [self] in serve(connection) }
            thread.start()
        }
    }

    private func serve(_ connection: Int32) {
        defer {
            state.withLock { state in
                state.connections.removeAll { $0 == connection }
                Glibc.close(connection)
            }
        }
        var pending = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 16_384)
        let separator = Array("\r\n\r\n".utf8)
        while true {
            // Read one request: the head, then Content-Length bytes of body.
            var headEnd: Int?
            while headEnd == nil {
                if let range = firstRange(of: separator, in: pending) {
                    headEnd = range
                    break
                }
                let count = read(connection, &chunk, chunk.count)
                guard count > 0 else { return }
                pending += chunk[0..<count]
            }
            let head = String(decoding: pending[0..<headEnd!], as: UTF8.self)
            let contentLength = head.split(separator: "\r\n").compactMap { line -> Int? in
                let parts = line.split(separator: ":", maxSplits: 1)
                guard parts.count == 2, parts[0].lowercased() == "content-length" else { return nil }
                return Int(parts[1].trimmingCharacters(in: .whitespaces))
            }.first ?? 0
            let requestEnd = headEnd! + separator.count + contentLength
            while pending.count < requestEnd {
                let count = read(connection, &chunk, chunk.count)
                guard count > 0 else { return }
                pending += chunk[0..<count]
            }
            pending.removeFirst(requestEnd)
            state.withLock { $0.requests.append(head) }

            let reply = respond(head)
            if reply.closeWithoutAnswer { return }
            let body = Array(reply.body.utf8)
            let lines = ["HTTP/1.1 \(reply.status)", "Content-Length: \(body.count)", "Content-Type: application/json"]
                + reply.headers
            let bytes = Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8) + body
            var written = 0
            while written < bytes.count {
                let count = bytes[written...].withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
                guard count > 0 else { return }
                written += count
            }
        }
    }

    private func firstRange(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return start
        }
        return nil
    }
}
