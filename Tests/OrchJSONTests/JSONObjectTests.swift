import OrchJSON
import Testing

/// Objects of `count` keys named k0…k(count-1), values their numbers.
private func numbered(_ count: Int) -> JSONObject {
    JSONObject((0..<count).map { ("k\($0)", JSONValue.integer(Int64($0))) })
}

@Test func keepsInsertionOrder() {
    var object = JSONObject()
    object["b"] = 1
    object["a"] = 2
    object["c"] = 3
    #expect(object.keys == ["b", "a", "c"])
    #expect(object.values == [1, 2, 3])
}

@Test func looksUpKeysInASmallObject() {
    let object: JSONObject = ["x": 1, "y": "two"]
    #expect(object["y"] == "two")
    #expect(object["missing"] == nil)
    #expect(object.position(of: "y") == 1)
    #expect(object.position(of: "missing") == nil)
}

@Test func replacingAValueKeepsItsPosition() {
    var object: JSONObject = ["a": 1, "b": 2, "c": 3]
    object["b"] = "new"
    #expect(object.keys == ["a", "b", "c"])
    #expect(object["b"] == "new")
}

@Test func removingAKeyShiftsTheKeysAfterIt() {
    var object: JSONObject = ["a": 1, "b": 2, "c": 3]
    object["a"] = nil
    #expect(object.keys == ["b", "c"])
    #expect(object.position(of: "c") == 1)
    #expect(object["a"] == nil)
}

@Test func removingAMissingKeyChangesNothing() {
    var object: JSONObject = ["a": 1]
    object["zzz"] = nil
    #expect(object == ["a": 1])
}

@Test func repeatedKeysInInitializerKeepTheFirstPositionAndTheLastValue() {
    let object = JSONObject([("a", 1), ("b", 2), ("a", 3)])
    #expect(object.keys == ["a", "b"])
    #expect(object["a"] == 3)
}

@Test func looksUpKeysInALargeObject() {
    let object = numbered(20)
    for i in 0..<20 {
        #expect(object["k\(i)"] == .integer(Int64(i)))
        #expect(object.position(of: "k\(i)") == i)
    }
    #expect(object["k20"] == nil)
    #expect(object.position(of: "k20") == nil)
}

@Test func removingFromALargeObjectReindexesTheKeysAfterIt() {
    var object = numbered(20)
    object["k5"] = nil
    #expect(object.count == 19)
    #expect(object["k5"] == nil)
    #expect(object.position(of: "k4") == 4)
    #expect(object.position(of: "k6") == 5)
    #expect(object.position(of: "k19") == 18)
    #expect(object["k19"] == 19)
}

@Test func addingToALargeObjectAppendsAndIndexesTheKey() {
    var object = numbered(20)
    object["new"] = "n"
    #expect(object.keys.last == "new")
    #expect(object.position(of: "new") == 20)
    #expect(object["new"] == "n")
}

@Test func replacingInALargeObjectKeepsPositions() {
    var object = numbered(20)
    object["k13"] = "replaced"
    #expect(object.keys == numbered(20).keys)
    #expect(object["k13"] == "replaced")
    #expect(object.position(of: "k14") == 14)
}

@Test func growingPastTheIndexThresholdKeepsLookupsRight() {
    var object = numbered(12)
    object["k12"] = 12
    object["k13"] = 13
    for i in 0..<14 { #expect(object.position(of: "k\(i)") == i) }
    #expect(object["k13"] == 13)
}

@Test func shrinkingBelowTheIndexThresholdKeepsLookupsRight() {
    var object = numbered(14)
    object["k0"] = nil
    object["k1"] = nil
    object["k2"] = nil
    #expect(object.count == 11)
    for i in 3..<14 {
        #expect(object.position(of: "k\(i)") == i - 3)
        #expect(object["k\(i)"] == .integer(Int64(i)))
    }
    #expect(object["k0"] == nil)
    object["k0"] = "back"
    #expect(object.position(of: "k0") == 11)
    #expect(object.keys.first == "k3")
}

@Test func removingThenReaddingInALargeObjectMovesTheKeyToTheEnd() {
    var object = numbered(15)
    object["k3"] = nil
    object["k3"] = "again"
    #expect(object.keys.last == "k3")
    #expect(object.position(of: "k3") == 14)
    #expect(object.position(of: "k4") == 3)
}

@Test func parsedLargeObjectsLookUpAndMutate() throws {
    let text = "{" + (0..<15).map { "\"k\($0)\": \($0)" }.joined(separator: ",") + "}"
    var object = try #require(try JSONValue.parse(text).objectValue)
    #expect(object == numbered(15))
    #expect(object["k14"] == 14)
    object["k0"] = nil
    #expect(object.position(of: "k14") == 13)
    object["k15"] = 15
    #expect(object.position(of: "k15") == 14)
}

@Test func iteratesPairsInOrder() {
    let object: JSONObject = ["b": 1, "a": 2]
    #expect(object.map(\.key) == ["b", "a"])
    #expect(object.map(\.value) == [1, 2])
    #expect(object[1].key == "a")
    #expect(object.count == 2)
    #expect(object.startIndex == 0)
    #expect(object.endIndex == 2)
}

@Test func equalityDependsOnKeyOrder() {
    let ab: JSONObject = ["a": 1, "b": 2]
    let ba: JSONObject = ["b": 2, "a": 1]
    #expect(ab != ba)
    #expect(ab == JSONObject([("a", 1), ("b", 2)]))
}

@Test func equalObjectsHashEqualWhateverTheirHistory() {
    var built = numbered(14)
    built["k13"] = nil
    let direct = numbered(13)
    #expect(built == direct)
    #expect(Set([built, direct]).count == 1)
}
