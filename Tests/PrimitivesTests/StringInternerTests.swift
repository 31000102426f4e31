import Foundation
@testable import Primitives
import Testing

@Suite("String interner")
struct StringInternerTests {
    /// The address of a string's UTF-8 storage: the same for two strings only when they share one heap buffer.
    private func storage(_ string: String) -> UnsafeRawPointer? {
        string.utf8.withContiguousStorageIfAvailable { UnsafeRawPointer($0.baseAddress) } ?? nil
    }

    private func intern(_ interner: StringInterner, _ text: String) -> String {
        Array(text.utf8).withUnsafeBytes { interner.string($0) }
    }

    @Test("a recurring value is handed out as the same string, not a new one")
    func recurringValueIsShared() {
        let interner = StringInterner()
        let name = "org.zstack.kvm.KVMHostAsyncHttpCallMsg"
        let first = intern(interner, name)
        let second = intern(interner, name)
        #expect(first == name && second == name)
        #expect(storage(first) != nil && storage(first) == storage(second))
    }

    @Test("different values, short values and very long values come back as themselves", arguments: [
        "", "short", "exactly-15-bytes", String(repeating: "é", count: 40), String(repeating: "x", count: 257),
        "zstack.message.cloudbus.0123456789abcdef0123456789abcdef",
    ])
    func valuesRoundTrip(text: String) {
        let interner = StringInterner()
        #expect(intern(interner, text) == text)
        #expect(intern(interner, text) == text)
    }

    @Test("a long value is made anew each time: the table keeps nothing longer than its bound")
    func longValuesAreNotKept() {
        let interner = StringInterner()
        let text = String(repeating: "y", count: StringInterner.maxLength + 1)
        let first = intern(interner, text)
        let second = intern(interner, text)  // both alive: a freed first buffer could be reused for the second
        #expect(first == second && storage(first) != storage(second))
    }

    @Test("many distinct values only evict each other: every lookup still returns its own value")
    func collisionsEvictWithoutMixingUp() {
        let interner = StringInterner()
        let values = (0..<(StringInterner.slotCount * 4)).map { "zstack.message.cloudbus.\($0)-node" }
        let mixedUp = (0..<2).flatMap { _ in values.filter { intern(interner, $0) != $0 } }
        #expect(mixedUp.isEmpty, "\(mixedUp.prefix(5))")
    }

    @Test("shared by tasks at once: each gets its own value back")
    func concurrentLookups() async {
        let interner = StringInterner()
        await withTaskGroup(of: Bool.self) { group in
            for task in 0..<4 {
                group.addTask {
                    (0..<500).allSatisfy { index in
                        let value = "service.\(task).\(index % 37).0123456789"
                        return Array(value.utf8).withUnsafeBytes { interner.string($0) } == value
                    }
                }
            }
            for await ok in group { #expect(ok) }
        }
    }
}
