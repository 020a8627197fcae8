import Foundation
import OrchPolicy
import Testing

// Resource URIs are decided in normal form (RFC 3986 section 6): the spellings a server reads as
// one resource are one, and URIs servers read in different ways are refused.

@Test(arguments: [
    // Dot segments, also percent-encoded.
    ("notes://host/public/../private/salaries", "notes://host/private/salaries"),
    ("notes://host/public/%2e%2e/private/salaries", "notes://host/private/salaries"),
    ("notes://host/public/%2E%2e/private/salaries", "notes://host/private/salaries"),
    ("notes://host/./a/b/../../c", "notes://host/c"),
    ("notes://host/a/b/..", "notes://host/a/"),
    ("notes://host/a/.", "notes://host/a/"),
    ("notes://host/../../a", "notes://host/a"),
    ("notes://host/a//../b", "notes://host/a/b"),
    ("notes:/a/../../b", "notes:/b"),
    ("notes:/..//x", "notes:/.//x"),
    // Case of scheme and host, never of the path.
    ("NOTES://host/private/x", "notes://host/private/x"),
    ("FILE:///etc/secret.txt", "file:///etc/secret.txt"),
    ("Notes://Host.Example/Private/X", "notes://host.example/Private/X"),
    ("notes://H%41ST/x", "notes://hast/x"),
    ("notes://[FE80::1]:8080/x", "notes://[fe80::1]:8080/x"),
    // Percent-encodings: unreserved decoded, reserved kept in uppercase hex.
    ("notes://host/%7euser/%41%2d%5F", "notes://host/~user/A-_"),
    ("notes://host/a%2fb", "notes://host/a%2Fb"),
    ("notes://host/a%3a%c3%a9", "notes://host/a%3A%C3%A9"),
    ("notes://host/a?%7e=%2f#%2e%2e", "notes://host/a?~=%2F#.."),
    // The query and fragment are not paths.
    ("notes://host/a?x=/../y#/./z", "notes://host/a?x=/../y#/./z"),
    // Ports.
    ("notes://host:/x", "notes://host/x"),
    ("notes://host:0080/x", "notes://host:80/x"),
    ("notes://host:000/x", "notes://host:0/x"),
    ("http://example.com:80/x", "http://example.com/x"),
    ("https://example.com:443", "https://example.com/"),
    ("http://example.com:8080/x", "http://example.com:8080/x"),
    ("notes://host:80/x", "notes://host:80/x"),
    // An empty path with an authority: `/` only for the web schemes.
    ("HTTP://Example.com", "http://example.com/"),
    ("notes://index", "notes://index"),
    // file: without a host is file:///.
    ("file://localhost/etc/secret.txt", "file:///etc/secret.txt"),
    ("file:/etc/secret.txt", "file:///etc/secret.txt"),
    ("file:///etc/./secret.txt", "file:///etc/secret.txt"),
    // Without an authority: a rootless path is opaque.
    ("urn:isbn:0451450523", "urn:isbn:0451450523"),
    ("URN:a/../b", "urn:a/../b"),
    ("MAILTO:Ann@Example.com", "mailto:Ann@Example.com"),
    // Kept: other characters, inside.
    ("notes://host/my notes/café", "notes://host/my notes/café"),
    ("notes://host/a%2Fb/..a", "notes://host/a%2Fb/..a"),
])
func resourceURIsAreDecidedInNormalForm(written: String, normal: String) throws {
    #expect(ResourceURI.normalize(written) == .success(normal), "\(written)")
    // A normal form is its own normal form.
    #expect(ResourceURI.normalize(normal) == .success(normal), "\(normal)")
}

@Test(arguments: [
    ("", ResourceURI.Refusal.empty),
    (" notes://host/private/x", .surroundingSpace),
    ("notes://host/private/x ", .surroundingSpace),
    ("notes://host/private/x\n", .controlCharacter),
    ("notes://host/pri\tvate/x", .controlCharacter),
    ("notes://host/x\u{7F}", .controlCharacter),
    ("notes://host/x\u{85}", .controlCharacter),
    ("notes://host/public\\..\\private/x", .backslash),
    ("notes", .noScheme),
    ("//host/x", .noScheme),
    ("1notes://x", .noScheme),
    ("no tes://x", .noScheme),
    ("/etc/secret.txt", .noScheme),
    ("notes://host/%zz", .badPercentEncoding),
    ("notes://host/%4", .badPercentEncoding),
    ("notes://host/a?b=%", .badPercentEncoding),
    ("notes://bob@host/private/x", .userPart),
    ("notes://[::1/x", .badAuthority),
    ("notes://[::1]x/y", .badAuthority),
    ("notes://host:8a/x", .badPort),
    ("notes://host/public/..%2Fprivate/x", .encodedDotSegment),
    ("notes://host/public/%2e%2e%2fprivate/x", .encodedDotSegment),
    ("notes://host/a%5C..%5Cb", .encodedDotSegment),
    ("notes://host/a%2F.", .encodedDotSegment),
])
func resourceURIsThatServersReadDifferentlyAreRefused(written: String, refusal: ResourceURI.Refusal) {
    #expect(ResourceURI.normalize(written) == .failure(refusal), "\(written.debugDescription)")
}

@Test func aRefusalSaysWhyInWords() {
    #expect("\(ResourceURI.Refusal.surroundingSpace)" == "it starts or ends with a space")
    #expect("\(ResourceURI.Refusal.encodedDotSegment)".contains("%2F"))
    for refusal in ResourceURI.Refusal.allCases { #expect(!"\(refusal)".isEmpty) }
}

@Test func anItemNamedByAServerIsItsNormalForm() {
    #expect(Item.named(.resource, "NOTES://index") == Item(.resource, "notes://index"))
    #expect(Item.named(.resource, " notes://index") == nil)
    // Tools and prompts are names, not URIs.
    #expect(Item.named(.tool, "Read File") == Item(.tool, "Read File"))
}

@Test(arguments: [
    // Written in normal form: as it is.
    ("notes://host/private/*", "notes://host/private/*", nil),
    ("*", "*", nil), ("*secret*", "*secret*", nil), ("mem://*", "mem://*", nil), ("*:*", "*:*", nil), ("file:///*", "file:///*", nil),
    // The literal parts put in normal form.
    ("NOTES://Host/a/./b*", "notes://host/a/b*", .rewritten),
    ("notes://host/public/../private/*", "notes://host/private/*", .rewritten),
    ("FILE:///etc/%7e*", "file:///etc/~*", .rewritten),
    ("HTTP://Example.com?*", "http://example.com/?*", .rewritten),
    // A `*` in the authority: only the scheme's case and the percent-encodings.
    ("NOTES://*/%7e*", "notes://*/~*", .rewritten),
    ("notes://*Host/a/../b", "notes://*Host/a/../b", nil),
    ("notes:/*", "notes:/*", nil),
    // A `%` that a `*` completes is kept.
    ("notes://host/%2*", "notes://host/%2*", nil),
    // Matching nothing: kept as written, with the reason.
    (" notes://host/*", " notes://host/*", .matchesNothing(.surroundingSpace)),
    ("notes://host/%zz*", "notes://host/%zz*", .matchesNothing(.badPercentEncoding)),
    ("notes://bob@host/*", "notes://bob@host/*", .matchesNothing(.userPart)),
    ("index", "index", .matchesNothing(.noScheme)),
    ("notes://host/*/../private", "notes://host/*/../private", .unresolvedDotSegment),
] as [(String, String, ResourceURI.GlobForm.Note?)])
func resourceGlobsMatchInNormalForm(written: String, pattern: String, note: ResourceURI.GlobForm.Note?) {
    let form = ResourceURI.normalizeGlob(written)
    #expect(form.pattern == pattern, "\(written)")
    #expect(form.note == note, "\(written)")
    #expect((form.warning(written: written) != nil) == (note != nil))
}
