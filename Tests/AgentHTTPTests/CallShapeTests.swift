@testable import AgentHTTP
import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing

@Suite("Task uuids of async agent calls")
struct TaskUUIDTests {
    @Test("32 lower-case hex digits, fresh every time, every digit in use")
    func shape() {
        let ids = (0..<2_000).map { _ in TaskUUID.make() }
        for id in ids {
            #expect(id.utf8.count == 32)
            #expect(id.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) })
        }
        #expect(Set(ids).count == ids.count)
        // 2,000 × 32 random digits: every one of the 16 appears in every position with near certainty, so a
        // digit table or nibble shift that is off shows as a missing digit or a stuck position.
        for position in 0..<32 {
            let digits = Set(ids.map { Array($0.utf8)[position] })
            #expect(digits.count == 16, "position \(position) shows \(digits.count) distinct digits")
        }
    }
}

@Suite("Request templates of agent calls")
struct RequestTemplateTests {
    @Test("a template is the parsed URL and method, reused per endpoint and path, and the cache stays bounded")
    func templates() throws {
        let templates = RequestTemplates()
        let endpoint = AgentEndpoint(host: "127.0.0.1", port: 7070)
        let ping = try templates.template(endpoint: endpoint, path: "/host/ping", method: .POST)
        #expect(ping.url.absoluteString == "http://127.0.0.1:7070/host/ping")
        #expect(ping.method == .POST)
        #expect(ping.headers.isEmpty && ping.body == nil)
        let health = try templates.template(endpoint: endpoint, path: "/healthz", method: .GET)
        #expect(health.url.absoluteString == "http://127.0.0.1:7070/healthz" && health.method == .GET)
        let v6 = try templates.template(endpoint: AgentEndpoint(host: "::1", port: 7763), path: "/echo", method: .POST)
        #expect(v6.url.absoluteString == "http://[::1]:7763/echo" && v6.port == 7763)
        #expect(templates.count == 3)
        _ = try templates.template(endpoint: endpoint, path: "/host/ping", method: .POST)
        #expect(templates.count == 3)
        for port in 1...RequestTemplates.capacity {
            _ = try templates.template(endpoint: AgentEndpoint(host: "127.0.0.1", port: port), path: "/p", method: .POST)
        }
        #expect(templates.count <= RequestTemplates.capacity)
        #expect(templates.count > 0)
    }
}
