@testable import CloudBus
import Foundation
import KVMMessages
import Testing

@Suite("Message registry: positions, and classes found from a body's bytes")
struct MessageRegistryTests {
    private let registry = WireExamples.registry

    private func position(_ text: String) -> Int? {
        Array(text.utf8).withUnsafeBytes { registry.position(spelledBy: $0) }
    }

    @Test("every class is found from its name's bytes at the position its name has, its name at its position")
    func everyClassFromBytes() {
        #expect(registry.count == MessageRegistry.wireTypes.count + KVMMessageTypes.all.count + 2)
        for position in 0..<registry.count {
            let name = registry.className(at: position)
            #expect(registry.position(of: name) == position)
            #expect(self.position(name) == position, "\(name)")
            #expect(registry.type(at: position).className == name)
            #expect(registry.type(named: name) == registry.type(at: position))
        }
    }

    @Test("a name differing in one byte, a prefix, an extension or nothing at all is no class")
    func nearMissesAreNotFound() {
        for name in registry.classNames {
            let bytes = Array(name.utf8)
            for index in bytes.indices {
                var changed = bytes
                changed[index] ^= 0x20
                let text = String(decoding: changed, as: UTF8.self)
                if registry.position(of: text) == nil {
                    #expect(changed.withUnsafeBytes { registry.position(spelledBy: $0) } == nil, "\(text)")
                }
            }
            #expect(position(String(name.dropLast())) == nil)
            #expect(position(name + "x") == nil)
        }
        #expect(position("") == nil)
        #expect(position(String(repeating: "org.zstack.header.", count: 20)) == nil)
    }

    @Test("adding keeps the positions there were and puts the new classes after them")
    func addingKeepsPositions() {
        let small = MessageRegistry(MessageRegistry.wireTypes)
        let extended = small.adding([ProbeMsg.self])
        for position in 0..<small.count {
            #expect(extended.className(at: position) == small.className(at: position))
        }
        #expect(extended.position(of: ProbeMsg.className) == small.count)
    }

    @Test("both decoding paths give the class's position in the registry that decoded it")
    func decodedEnvelopesCarryThePosition() throws {
        let body = Data(WireExamples.pingHostMsg.utf8)
        let expected = try #require(registry.position(of: PingHostMsg.className))
        let onePass = try #require(EnvelopeCodec.decodeInOnePass(body, registry: registry))
        #expect(onePass.classPosition == expected && onePass.className == PingHostMsg.className)
        let foundation = try EnvelopeCodec.decodeWithFoundation(body, registry: registry)
        #expect(foundation.classPosition == expected && foundation.className == PingHostMsg.className)
        let reordered = MessageRegistry([ProbeMsg.self, PingHostMsg.self])
        #expect(try EnvelopeCodec.decode(body, registry: reordered).classPosition == 1)
    }
}
