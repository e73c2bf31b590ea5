# Turns one file (a Lua script, the widget's JavaScript) into a C source
# holding it as a string constant, and its SHA-256 in hex as NAME_sha256
# (an ETag that changes exactly when the file does).
# Called at build time: cmake -DIN=foo.lua -DOUT=foo.lua.c -DNAME=lua_foo -P embed.cmake
file(READ "${IN}" body HEX)
file(SHA256 "${IN}" sum)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${body}")
file(WRITE "${OUT}" "/* Generated from ${IN}; do not edit. */\n"
     "const char ${NAME}[] = {${body} 0x00};\n"
     "const char ${NAME}_sha256[] = \"${sum}\";\n")
