import Foundation
import LocoLLM
import LocoTestSupport
import Testing

/// The routing policy of a conversation: sticky keeps the first message's route (and says so),
/// per-turn routes every message, clear() forgets the kept route.
@Suite struct RoutedChatTests {
    @Test func stickyKeepsTheFirstRouteAndPerTurnDoesNot() throws {
        guard let model = Peers.defaultModel else {
            print("skipped: the default model is missing")
            #expect(!Peers.required, "the default model is required (LOCO_REQUIRE_PEERS=1)")
            return
        }
        // Routes name adapters the registry must have: entries are folders (deciding reads no file).
        let registry = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: registry) }
        let engine = try Engine(model: model, registry: AdapterRegistry(folder: registry))
        let routes = try Routes(routes: [.init(name: "math", keywords: ["sum"]), .init(name: "code", keywords: ["python"])])
        let router = try FittedRouter(routes, method: .keyword, engine: nil)
        #expect(throws: RegistryError(.notFound("code"), path: registry)) { try RoutedChat(engine: engine, router: router) }
        for name in ["math", "code"] { try FileManager.default.createDirectory(atPath: registry + "/" + name, withIntermediateDirectories: true) }

        let sticky = try RoutedChat(engine: engine, router: router)
        #expect(sticky.policy == .sticky)
        #expect(try sticky.decide("the sum of two numbers").route == "math")
        let kept = try sticky.decide("now some python")
        #expect(kept.route == "math" && kept.reason.hasPrefix("kept from the conversation's first message"))
        sticky.clear()
        #expect(try sticky.decide("now some python").route == "code")

        let perTurn = try RoutedChat(engine: engine, router: router, policy: .perTurn)
        #expect(try perTurn.decide("the sum").route == "math")
        #expect(try perTurn.decide("python please").route == "code")
        #expect(try perTurn.decide("a poem").route == nil)
    }
}
