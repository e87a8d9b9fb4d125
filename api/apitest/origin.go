// Package apitest holds what tests of the API share across packages: the
// origin's nine cases, run against one server here and through nginx in
// front of two elsewhere.
package apitest

// OriginCase is one of the origin client's requests and the answer it
// gets on an empty store.
type OriginCase struct {
	Method, Target, Body string
	Status               int
	Want                 string // the body, or the problem type for errors
}

// OriginCases are the nine requests of the origin's client, in order, with
// the outcomes the origin gave (case 1 answered 100, which HTTP forbids as
// a final status: 200 now). examples/origin.replay holds the same cases.
var OriginCases = []OriginCase{
	{"HEAD", "/", "", 200, ""},
	{"POST", "/create", "name:kangjuseong", 201, `{"name":"kangjuseong"}` + "\n"},
	{"POST", "/create", "name:juseong-gang", 400, "urn:kvhttp:problem:key-exists"},
	{"POST", "/create", "address:seongbukgu", 201, `{"address":"seongbukgu","name":"kangjuseong"}` + "\n"},
	{"POST", "/create", "test", 400, "urn:kvhttp:problem:bad-pair"},
	{"GET", "/", "", 200, `{"address":"seongbukgu","name":"kangjuseong"}` + "\n"},
	{"PUT", "/update", "name:juseong-kang", 200, `{"address":"seongbukgu","name":"juseong-kang"}` + "\n"},
	{"PUT", "/update", "grade:A", 400, "urn:kvhttp:problem:key-missing"},
	{"POST", "/test", "age:24", 404, "urn:kvhttp:problem:not-found"},
}
