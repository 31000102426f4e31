@testable import AgentHTTP
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
