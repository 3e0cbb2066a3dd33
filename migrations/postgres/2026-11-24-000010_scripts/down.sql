DROP TABLE script_environment_variables;
DROP TABLE custom_claim_scripts;
