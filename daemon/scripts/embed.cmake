# Turns one Lua script into a C source holding it as a string constant.
# Called at build time: cmake -DIN=foo.lua -DOUT=foo.lua.c -DNAME=lua_foo -P embed.cmake
file(READ "${IN}" body HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${body}")
file(WRITE "${OUT}" "/* Generated from ${IN}; do not edit. */\n"
     "const char ${NAME}[] = {${body} 0x00};\n")
