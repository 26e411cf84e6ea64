-- One database per service: no service reads another's data.
CREATE DATABASE intake;
CREATE DATABASE tracking;
CREATE DATABASE scoring;
CREATE DATABASE notify;
