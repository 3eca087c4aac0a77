CREATE DATABASE mlflow OWNER cellwise;
