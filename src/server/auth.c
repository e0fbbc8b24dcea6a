/*
 * auth.c — the admin token of DESIGN §3: `Authorization: Bearer <token>`,
 * compared in constant time so that timing tells nothing of the token.
 */
#include "handlers.h"
#include "response.h"

#include <string.h>
#include <strings.h>

/* Equal when same length and same bytes; the time taken depends only on
 * the length of the given token, never on where the first difference is. */
static bool same_token(const char *given, const char *expected) {
  size_t given_length = strlen(given), expected_length = strlen(expected);
  unsigned char difference = given_length != expected_length;
  for (size_t i = 0; i < given_length; i++) {
    difference |= (unsigned char)given[i] ^ (unsigned char)expected[i % (expected_length + 1)];
  }
  return difference == 0;
}

bool auth_admin(server_request *request, enum MHD_Result *refused) {
  static const char scheme[] = "Bearer ";
  const char *expected = request->server->admin_token;
  if (expected[0] == '\0') {
    return true;
  }
  const char *header = MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_AUTHORIZATION);
  if (header == NULL || strncasecmp(header, scheme, sizeof scheme - 1) != 0) {
    struct MHD_Response *response =
        response_json(json_pack("{s:{s:s,s:s}}", "error", "code", "unauthorized", "message",
                                "This route needs the admin token."));
    if (response != NULL) {
      MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    }
    *refused = response_queue(request, MHD_HTTP_UNAUTHORIZED, response);
    return false;
  }
  if (!same_token(header + sizeof scheme - 1, expected)) {
    *refused = respond_error(request, MHD_HTTP_FORBIDDEN, "forbidden", "The admin token is wrong.");
    return false;
  }
  return true;
}
