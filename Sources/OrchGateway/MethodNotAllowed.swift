import Hummingbird

/// A request for a path the router serves, with a method it does not serve there, gets 405 with
/// `Allow` (RFC 9110 §15.5.6) rather than the 404 of a path that does not exist. Added to the
/// router after every route, so it wraps only the router's not-found answer.
struct MethodNotAllowedMiddleware: RouterMiddleware {
    typealias Context = GatewayContext
    /// Each served path with its methods, in the order the router lists them.
    let routes: [(path: RouterPath, methods: [String])]

    init(routes: [Router<GatewayContext>.RouteDescription]) {
        var table: [(path: RouterPath, methods: [String])] = []
        for route in routes {
            if let index = table.firstIndex(where: { $0.path == route.path }) {
                table[index].methods.append(route.method.rawValue)
            } else {
                table.append((route.path, [route.method.rawValue]))
            }
        }
        self.routes = table.map { ($0.path, $0.methods.sorted()) }
    }

    /// The methods served for `path`, none when no route matches it.
    func methods(for path: String) -> [String] {
        let segments = path.split(separator: "/")
        var methods: [String] = []
        for route in routes where route.path.components.count == segments.count {
            if zip(route.path.components, segments).allSatisfy({ $0 ~= $1 }) {
                methods += route.methods.filter { !methods.contains($0) }
            }
        }
        return methods
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let allowed = methods(for: request.uri.path)
        guard !allowed.isEmpty else { return try await next(request, context) }
        throw GatewayError(
            .methodNotAllowed, code: "bad_request", "method \(request.method.rawValue) is not allowed here; allowed: \(allowed.joined(separator: ", "))",
            headers: [.allow: allowed.joined(separator: ", ")])
    }
}
