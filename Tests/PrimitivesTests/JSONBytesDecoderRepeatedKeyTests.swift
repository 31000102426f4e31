import Foundation
import Primitives
import Testing

/// The one pass gives a body with a repeated object key up (JSONDecoder decides which value wins), wherever the
/// repeat sits and however many keys come before it — including keys that share the repeat's length and first and
/// last bytes, which is what the decoder's quick test looks at before comparing.
@Suite("JSONBytesDecoder: repeated keys are found among any earlier keys")
struct JSONBytesDecoderRepeatedKeyTests {
    private func onePass(_ body: String) -> [String: Int]? {
        Array(body.utf8).withUnsafeBytes { try? JSONBytesDecoder.decode([String: Int].self, validated: $0) }
    }

    private func object(_ keys: [String]) -> String {
        "{" + keys.enumerated().map { "\"\($0.element)\": \($0.offset)" }.joined(separator: ", ") + "}"
    }

    @Test("a repeat of any earlier key, in objects of 1 to 40 keys, is given up; distinct keys are decoded")
    func repeatsAnywhere() {
        for count in 1...40 {
            // Same length, same first and last bytes: "a0z", "a1z", …, then longer ones.
            let keys = (0..<count).map { "a\($0)z" }
            let distinct = onePass(object(keys))
            #expect(distinct?.count == count, "\(count) distinct keys")
            for repeated in 0..<count {
                #expect(onePass(object(keys + [keys[repeated]])) == nil, "key \(repeated) repeated after \(count)")
                var early = keys
                early.insert(keys[repeated], at: repeated + 1)
                #expect(onePass(object(early)) == nil, "key \(repeated) repeated at once among \(count)")
            }
        }
        #expect(onePass(#"{"": 1, "": 2}"#) == nil)
        #expect(onePass(#"{"": 1, "a": 2}"#)?.count == 2)
    }

    @Test("a key with an escape is given up, wherever the backslash is")
    func escapedKeys() {
        #expect(onePass(#"{"a\u0062": 1}"#) == nil)
        #expect(onePass(#"{"plain": 1, "x\"y": 2}"#) == nil)
        #expect(onePass(#"{"\\": 1}"#) == nil)
        #expect(onePass(#"{"plain": 1, "other": 2}"#)?.count == 2)
    }
}
