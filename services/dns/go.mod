module drover.dev/dns

go 1.26.8

replace drover.dev/libs => ../../libs

require drover.dev/libs v0.0.0
