// Asio and Beast are built with separate compilation (see the top-level CMakeLists.txt): their
// out-of-line code is compiled here, once, instead of in every translation unit.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
