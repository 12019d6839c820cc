import Hummingbird

/// Why a request failed: an HTTP status and a message for the client. Each API family writes it
/// in its own error shape (Ollama's `{"error": "..."}`, OpenAI's `{"error": {"message": ...}}`).
public struct ServerError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case badRequest, unauthorized, notFound, payloadTooLarge, serviceUnavailable, internalError
    }

    public var kind: Kind
    public var message: String
    /// The request field at fault, when one is (OpenAI's `param`).
    public var parameter: String?
    /// Seconds after which a busy server may have room (the `Retry-After` header).
    public var retryAfter: Int?

    public init(_ kind: Kind, _ message: String, parameter: String? = nil, retryAfter: Int? = nil) {
        self.kind = kind
        self.message = message
        self.parameter = parameter
        self.retryAfter = retryAfter
    }

    public var description: String { message }

    var status: HTTPResponse.Status {
        switch kind {
        case .badRequest: .badRequest
        case .unauthorized: .unauthorized
        case .notFound: .notFound
        case .payloadTooLarge: .contentTooLarge
        case .serviceUnavailable: .serviceUnavailable
        case .internalError: .internalServerError
        }
    }

    /// OpenAI's error `type` for this kind.
    var openAIType: String {
        switch kind {
        case .badRequest, .payloadTooLarge: "invalid_request_error"
        case .unauthorized: "authentication_error"
        case .notFound: "not_found_error"
        case .serviceUnavailable: "server_busy"
        case .internalError: "server_error"
        }
    }
}
