#include "engine/template/parser.h"

#include "engine/template/builtins.h"
#include "engine/template/parser_impl.h"

namespace tandem::engine::jinja {

std::string describe(const Token& token) {
  switch (token.kind) {
    case TokenKind::Text: return "template text";
    case TokenKind::VarBegin: return "'{{'";
    case TokenKind::VarEnd: return "'}}'";
    case TokenKind::BlockBegin: return "'{%'";
    case TokenKind::BlockEnd: return "'%}'";
    case TokenKind::Name: return "'" + token.text + "'";
    case TokenKind::String: return "string literal";
    case TokenKind::Integer: case TokenKind::Float: return "number " + token.text;
    case TokenKind::Operator: return "'" + token.text + "'";
    case TokenKind::End: return "end of template";
  }
  return "token";
}

// Parses statements until a block tag whose name is one of `terminators`; consumes `{% name`
// and stores the name in `found`. At the top level (no terminators) stops at the end.
Body Parser::parse_body(std::initializer_list<const char*> terminators, std::string& found,
                        const char* opener, Position opened_at) {
  Body body;
  for (;;) {
    const Token& token = peek();
    switch (token.kind) {
      case TokenKind::End:
        if (terminators.size() == 0) return body;
        syntax_error(opened_at.line, opened_at.column,
                     std::string("unexpected end of template: '") + opener +
                         "' opened here was never closed (expected '" + *(terminators.end() - 1) + "')");
      case TokenKind::Text: {
        auto stmt = std::make_unique<Stmt>(StmtKind::Text, where(token));
        stmt->text = next().text;
        body.push_back(std::move(stmt));
        break;
      }
      case TokenKind::VarBegin: {
        auto stmt = std::make_unique<Stmt>(StmtKind::Print, where(next()));
        stmt->expr = parse_tuple(true);
        if (peek().kind != TokenKind::VarEnd) fail(peek(), "expected '}}', got " + describe(peek()));
        next();
        body.push_back(std::move(stmt));
        break;
      }
      case TokenKind::BlockBegin: {
        const Token& name = peek(1);
        if (name.kind == TokenKind::Name) {
          for (const char* terminator : terminators) {
            if (name.text == terminator) {
              next();
              found = next().text;
              return body;
            }
          }
        }
        body.push_back(parse_statement());
        break;
      }
      default:
        fail(token, "unexpected " + describe(token));
    }
  }
}

StmtPtr Parser::parse_statement() {
  next();  // {%
  const Token& tag = peek();
  if (tag.kind != TokenKind::Name) fail(tag, "expected a statement name, got " + describe(tag));
  std::string name = next().text;
  Position at = where(tag);
  if (name == "if") return parse_if(at);
  if (name == "for") return parse_for(at);
  if (name == "set") return parse_set(at);
  if (name == "macro") return parse_macro(at);
  if (name == "call") return parse_call_block(at);
  if (name == "filter") return parse_filter_block(at);
  if (name == "with") return parse_with(at);
  if (name == "generation") {  // transformers' assistant-mask extension: renders its body
    auto stmt = std::make_unique<Stmt>(StmtKind::With, at);
    expect_block_end("generation");
    std::string end;
    stmt->body = parse_body({"endgeneration"}, end, "generation", at);
    expect_block_end("endgeneration");
    return stmt;
  }
  if (name == "break" || name == "continue") {
    if (loop_depth_ == 0) fail(tag, "'" + name + "' outside of a for loop");
    auto stmt = std::make_unique<Stmt>(name == "break" ? StmtKind::Break : StmtKind::Continue, at);
    expect_block_end(name.c_str());
    return stmt;
  }
  if (name.rfind("end", 0) == 0 || name == "elif" || name == "else") {
    fail(tag, "unexpected '" + name + "' (no open block it could close)");
  }
  fail(tag, "unknown statement '" + name + "'");
}

StmtPtr Parser::parse_if(Position at) {
  auto stmt = std::make_unique<Stmt>(StmtKind::If, at);
  stmt->conditions.push_back(parse_tuple(true));
  expect_block_end("if");
  for (;;) {
    std::string found;
    stmt->bodies.push_back(parse_body({"elif", "else", "endif"}, found, "if", at));
    if (found == "elif") {
      stmt->conditions.push_back(parse_tuple(true));
      expect_block_end("elif");
    } else if (found == "else") {
      expect_block_end("else");
      stmt->else_body = parse_body({"endif"}, found, "if", at);
      expect_block_end("endif");
      return stmt;
    } else {
      expect_block_end("endif");
      return stmt;
    }
  }
}

// Targets of for/set: `a`, `a, b` or `(a, b)`.
void Parser::parse_targets(Stmt& stmt) {
  bool parens = accept_op("(");
  stmt.targets.push_back(expect_name("a variable name"));
  while (accept_op(",")) {
    stmt.unpack = true;
    if (peek().kind != TokenKind::Name) break;
    stmt.targets.push_back(expect_name("a variable name"));
  }
  if (parens) {
    stmt.unpack = true;
    expect_op(")");
  }
}

StmtPtr Parser::parse_for(Position at) {
  auto stmt = std::make_unique<Stmt>(StmtKind::For, at);
  parse_targets(*stmt);
  if (!accept_name("in")) fail(peek(), "expected 'in' in for loop, got " + describe(peek()));
  stmt->expr = parse_tuple(false);
  if (accept_name("if")) stmt->filter = parse_expression(true);
  if (is_name("recursive")) fail(peek(), "recursive for loops are not supported");
  expect_block_end("for");
  ++loop_depth_;
  std::string found;
  stmt->body = parse_body({"else", "endfor"}, found, "for", at);
  --loop_depth_;
  if (found == "else") {
    expect_block_end("else");
    stmt->else_body = parse_body({"endfor"}, found, "for", at);
  }
  expect_block_end("endfor");
  return stmt;
}

StmtPtr Parser::parse_set(Position at) {
  auto stmt = std::make_unique<Stmt>(StmtKind::Set, at);
  if (peek().kind == TokenKind::Name && is_op(".", 1)) {
    stmt->targets.push_back(next().text);
    next();
    stmt->text = expect_name("an attribute name");
  } else {
    parse_targets(*stmt);
  }
  if (accept_op("=")) {
    stmt->expr = parse_tuple(true);
    expect_block_end("set");
    return stmt;
  }
  if (stmt->unpack) fail(peek(), "expected '=' after set target");
  expect_block_end("set");
  std::string found;
  stmt->body = parse_body({"endset"}, found, "set", at);
  expect_block_end("endset");
  return stmt;
}

// `(a, b=default, ...)` for macros and call blocks.
void Parser::parse_parameters(Stmt& stmt) {
  expect_op("(");
  while (!accept_op(")")) {
    if (!stmt.targets.empty()) expect_op(",");
    if (accept_op(")")) break;
    stmt.targets.push_back(expect_name("a parameter name"));
    stmt.values.push_back(accept_op("=") ? parse_expression(true) : nullptr);
  }
}

StmtPtr Parser::parse_macro(Position at) {
  auto stmt = std::make_unique<Stmt>(StmtKind::Macro, at);
  stmt->text = expect_name("a macro name");
  parse_parameters(*stmt);
  expect_block_end("macro");
  int saved_depth = loop_depth_;
  loop_depth_ = 0;
  std::string found;
  stmt->body = parse_body({"endmacro"}, found, "macro", at);
  loop_depth_ = saved_depth;
  if (peek().kind == TokenKind::Name) next();  // {% endmacro name %}
  expect_block_end("endmacro");
  return stmt;
}

StmtPtr Parser::parse_call_block(Position at) {
  auto stmt = std::make_unique<Stmt>(StmtKind::CallBlock, at);
  if (is_op("(")) parse_parameters(*stmt);
  stmt->expr = parse_expression(true);
  if (stmt->expr->kind != ExprKind::Call) fail(peek(), "expected a macro call in call block");
  expect_block_end("call");
  std::string found;
  stmt->body = parse_body({"endcall"}, found, "call", at);
  expect_block_end("endcall");
  return stmt;
}

StmtPtr Parser::parse_filter_block(Position at) {
  auto stmt = std::make_unique<Stmt>(StmtKind::FilterBlock, at);
  ExprPtr chain;
  do {
    chain = parse_filter(std::move(chain));
  } while (accept_op("|"));
  stmt->expr = std::move(chain);
  expect_block_end("filter");
  std::string found;
  stmt->body = parse_body({"endfilter"}, found, "filter", at);
  expect_block_end("endfilter");
  return stmt;
}

StmtPtr Parser::parse_with(Position at) {
  auto stmt = std::make_unique<Stmt>(StmtKind::With, at);
  while (peek().kind != TokenKind::BlockEnd) {
    if (!stmt->targets.empty()) expect_op(",");
    stmt->targets.push_back(expect_name("a variable name"));
    expect_op("=");
    stmt->values.push_back(parse_expression(true));
  }
  expect_block_end("with");
  std::string found;
  stmt->body = parse_body({"endwith"}, found, "with", at);
  expect_block_end("endwith");
  return stmt;
}

Template parse(const std::vector<Token>& tokens) { return Parser(tokens).run(); }

}  // namespace tandem::engine::jinja
