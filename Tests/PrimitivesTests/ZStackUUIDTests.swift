import Primitives
import Testing

@Suite("ZStackUUID")
struct ZStackUUIDTests {
    @Test func acceptsThirtyTwoLowercaseHexDigits() {
        #expect(ZStackUUID.isWellFormed("9b1d387e11bd3ab0a673c655eb4c8f66"))
        #expect(ZStackUUID.problem("9b1d387e11bd3ab0a673c655eb4c8f66") == nil)
    }

    @Test(arguments: [
        "9B1D387E11BD3AB0A673C655EB4C8F66",  // upper case: ZStack never writes it
        "9b1d387e-11bd-3ab0-a673-c655eb4c8f66",  // dashes
        "9b1d387e11bd3ab0a673c655eb4c8f6g",  // not hex
        "9b1d387e11bd3ab0a673c655eb4c8f6",  // 31 digits
        "9b1d387e11bd3ab0a673c655eb4c8f66a",  // 33 digits
        "",
        "9b1d387e11bd3ab0a673c655eb4c8f6é",  // 32 characters, 33 bytes
    ])
    func refusesEveryOtherShape(value: String) {
        #expect(!ZStackUUID.isWellFormed(value))
        #expect(ZStackUUID.problem(value) != nil)
    }

    @Test func problemNamesTheLengthWhenThatIsWhatIsWrong() {
        #expect(ZStackUUID.problem("abc") == "must be 32 lowercase hex digits without dashes, got 3 characters")
        #expect(ZStackUUID.problem(String(repeating: "z", count: 32)) == "must be 32 lowercase hex digits without dashes")
    }
}
