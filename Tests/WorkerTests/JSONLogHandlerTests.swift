import Foundation
import Logging
import Synchronization
import Testing
@testable import Worker

@Suite("JSON log lines")
struct JSONLogHandlerTests {
    final class Lines: Sendable {
        let all = Mutex<[String]>([])
        func append(_ line: String) { all.withLock { $0.append(line) } }
    }

    private func logger(_ lines: Lines, level: Logger.Level = .info) -> Logger {
        var logger = Logger(label: "cloudbus-worker") { label in
            JSONLogHandler(label: label) { lines.append($0) }
        }
        logger.logLevel = level
        return logger
    }

    @Test("one object per line: time, level, label, message first, then the metadata sorted; the call's wins")
    func stableKeys() throws {
        let lines = Lines()
        var logger = logger(lines)
        logger[metadataKey: "node"] = "n1"
        logger[metadataKey: "queue"] = "from the handler"
        logger.info("handled", metadata: ["msg.id": "abc", "msg.class": "PingHostMsg", "queue": "q"])
        let line = try #require(lines.all.withLock { $0 }.first)
        #expect(line.hasSuffix("}\n") && line.filter { $0 == "\n" }.count == 1)
        #expect(line.hasPrefix(#"{"time":""#))
        let keys = ["\"level\":\"info\"", "\"label\":\"cloudbus-worker\"", "\"message\":\"handled\"",
                    "\"msg.class\":\"PingHostMsg\"", "\"msg.id\":\"abc\"", "\"node\":\"n1\"", "\"queue\":\"q\""]
        var position = line.startIndex
        for key in keys {
            let found = try #require(line.range(of: key, range: position..<line.endIndex), "\(key) out of order in \(line)")
            position = found.upperBound
        }
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let time = try #require(object["time"] as? String)
        #expect(time.count == 24 && time.hasSuffix("Z"), "RFC 3339 UTC with milliseconds: \(time)")
    }

    @Test("quotes, backslashes, newlines and control characters are escaped; nested metadata stays nested")
    func escapingAndNesting() throws {
        let lines = Lines()
        let logger = logger(lines)
        logger.warning("a \"quoted\"\nline\\ with \u{01} and ü", metadata: [
            "message": "collides", "nested": ["b": "2", "a": ["x", "y"]],
        ])
        let line = try #require(lines.all.withLock { $0 }.first)
        #expect(line.contains(#""message":"a \"quoted\"\nline\\ with \u0001 and ü""#))
        #expect(line.contains(#""meta.message":"collides""#))
        #expect(line.contains(#""nested":{"a":["x","y"],"b":"2"}"#))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["message"] as? String == "a \"quoted\"\nline\\ with \u{01} and ü")
    }

    @Test("below the level nothing is written")
    func levelFilters() {
        let lines = Lines()
        let logger = logger(lines, level: .warning)
        logger.info("quiet")
        logger.error("loud")
        #expect(lines.all.withLock { $0 }.count == 1)
    }
}
